/**
 * Ingress nodes: their registration, their ingress token (hashed) and what
 * they last reported (seen, applied revision, admin URL). Registration is a
 * configuration change; reports are not.
 */
import { ApiError, notFound } from '../errors.js';
import type { IngressNodesTable } from '../tables.js';
import type { NodeViewT } from '../api-schemas.js';
import { generateIngressToken, hashIngressToken } from '../token.js';
import { newId, now, type Db, type RunChange } from './tx.js';

function nodeView(r: IngressNodesTable): NodeViewT {
  return {
    id: r.id,
    name: r.name,
    lastSeenAt: r.last_seen_at,
    ackedRevision: r.acked_revision === null ? null : Number(r.acked_revision),
    tokenSet: r.token_hash !== null && r.token_hash !== undefined,
    adminUrl: r.admin_url ?? null,
    statsPulledAt: r.stats_pulled_at ?? null,
    linkFingerprint: r.link_fingerprint ?? null,
    nextLinkFingerprint: r.link_next_fingerprint ?? null,
    linkReportedAt: r.link_reported_at ?? null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class NodeRepo {
  constructor(
    private readonly db: Db,
    private readonly change: RunChange,
  ) {}

  async list(): Promise<NodeViewT[]> {
    return (await this.db.selectFrom('ingress_nodes').selectAll().orderBy('id').execute()).map((r) => nodeView(r));
  }

  async get(id: string): Promise<NodeViewT | undefined> {
    const r = await this.db.selectFrom('ingress_nodes').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? nodeView(r) : undefined;
  }

  async create(input: { id?: string | undefined; name: string }, actor: string): Promise<NodeViewT> {
    const id = input.id ?? newId('ing');
    await this.change(actor, async (trx, record) => {
      const dup = await trx.selectFrom('ingress_nodes').select('id').where('id', '=', id).executeTakeFirst();
      if (dup) throw new ApiError(409, 'conflict', `ingress node '${id}' exists`, 'body.id');
      const t = now();
      await trx
        .insertInto('ingress_nodes')
        .values({ id, name: input.name, last_seen_at: null, acked_revision: null, token_hash: null, token_created_at: null, admin_url: null, stats_epoch: null, stats_seq: null, stats_pulled_at: null, link_fingerprint: null, link_next_fingerprint: null, link_reported_at: null, created_at: t, updated_at: t })
        .execute();
      record('ingress_node', id, 'create');
    });
    return (await this.get(id))!;
  }

  async update(id: string, patch: { name: string }, actor: string): Promise<NodeViewT> {
    await this.change(actor, async (trx, record) => {
      const r = await trx.updateTable('ingress_nodes').set({ name: patch.name, updated_at: now() }).where('id', '=', id).executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw notFound('ingress node', id);
      record('ingress_node', id, 'update');
    });
    return (await this.get(id))!;
  }

  async delete(id: string, actor: string): Promise<void> {
    await this.change(actor, async (trx, record) => {
      const r = await trx.deleteFrom('ingress_nodes').where('id', '=', id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound('ingress node', id);
      record('ingress_node', id, 'delete');
    });
  }

  /**
   * What an ingress reports (seen now, applied `revision`). Not a configuration
   * change: no revision bump, no change-log entry (else every ack would need an ack).
   */
  async recordAck(id: string, revision: number | undefined, adminUrl?: string, linkFingerprints?: readonly string[]): Promise<boolean> {
    const set: Partial<IngressNodesTable> = { last_seen_at: now() };
    if (revision !== undefined) set.acked_revision = revision;
    if (adminUrl !== undefined) set.admin_url = adminUrl;
    if (linkFingerprints !== undefined) {
      // Replaced whole: a key the node no longer reports (rotated out) is no longer pinned by the exits.
      set.link_fingerprint = linkFingerprints[0] ?? null;
      set.link_next_fingerprint = linkFingerprints[1] ?? null;
      set.link_reported_at = set.last_seen_at!;
    }
    const r = await this.db.updateTable('ingress_nodes').set(set).where('id', '=', id).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Every node's reported link fingerprints, current and next, once each: what hopgate exits pin. */
  async linkPins(): Promise<string[]> {
    const rows = await this.db.selectFrom('ingress_nodes').select(['link_fingerprint', 'link_next_fingerprint']).orderBy('id').execute();
    return [...new Set(rows.flatMap((r) => [r.link_fingerprint, r.link_next_fingerprint]).filter((f): f is string => f !== null && f !== undefined))];
  }

  /** A new ingress token for node `id` (shown once; the previous one stops working). Undefined: no such node. */
  async issueToken(id: string): Promise<string | undefined> {
    const token = generateIngressToken();
    const t = now();
    const r = await this.db
      .updateTable('ingress_nodes')
      .set({ token_hash: hashIngressToken(token), token_created_at: t, updated_at: t })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0 ? token : undefined;
  }

  /** The node an ingress token belongs to. */
  async byToken(token: string): Promise<NodeViewT | undefined> {
    if (!token.startsWith('hging_')) return undefined;
    const r = await this.db.selectFrom('ingress_nodes').selectAll().where('token_hash', '=', hashIngressToken(token)).executeTakeFirst();
    return r ? nodeView(r) : undefined;
  }
}

/**
 * The outbox as seen by the JetStream publisher (events/jetstream.ts): claim
 * unpublished events oldest first under a lease (FOR UPDATE SKIP LOCKED on
 * PostgreSQL, so replicas take disjoint batches; a replica that dies leaves
 * its batch due again when the lease runs out), then mark the acked ones.
 */
import type { DbTarget } from '../db.js';
import type { EventEnvelopeT, EventKind } from '../events/kinds.js';
import { parseJson } from './json-columns.js';
import type { Db } from './tx.js';

export class JetStreamOutbox {
  constructor(
    private readonly db: Db,
    private readonly dialect: DbTarget['dialect'],
  ) {}

  async claim(limit: number, leaseMs: number, nowMs = Date.now()): Promise<EventEnvelopeT[]> {
    return this.db.transaction().execute(async (trx) => {
      let q = trx.selectFrom('outbox').select('id').where('js_published', '=', 0).where('js_next_at', '<=', nowMs).orderBy('id').limit(limit);
      if (this.dialect === 'postgres') q = q.forUpdate().skipLocked();
      const ids = (await q.execute()).map((r) => Number(r.id));
      if (ids.length === 0) return [];
      await trx.updateTable('outbox').set({ js_next_at: Math.round(nowMs + leaseMs) }).where('id', 'in', ids).execute();
      const rows = await trx.selectFrom('outbox').select(['id', 'idempotency_key', 'kind', 'occurred_at', 'payload']).where('id', 'in', ids).orderBy('id').execute();
      return rows.map((r) => ({ id: Number(r.id), kind: r.kind as EventKind, idempotencyKey: r.idempotency_key, occurredAt: r.occurred_at, data: parseJson<Record<string, unknown>>(r.payload, {}) }));
    });
  }

  /** Acked by JetStream: never published again. */
  async published(ids: readonly number[]): Promise<void> {
    if (ids.length > 0) await this.db.updateTable('outbox').set({ js_published: 1 }).where('id', 'in', [...ids]).execute();
  }

  /** Not acked: due again at `nextAt` (the back-off), by whichever replica claims first. */
  async retryAt(ids: readonly number[], nextAt: number): Promise<void> {
    if (ids.length > 0) await this.db.updateTable('outbox').set({ js_next_at: Math.round(nextAt) }).where('id', 'in', [...ids]).where('js_published', '=', 0).execute();
  }

  /** Events not yet acked (a gauge for /metrics). */
  async backlog(): Promise<number> {
    const r = await this.db.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n')).where('js_published', '=', 0).executeTakeFirst();
    return Number(r?.n ?? 0);
  }
}

/**
 * The configuration revision and its change log: the one place a
 * configuration change is committed. Every change runs in one transaction
 * that bumps the revision by one and appends what changed to the change log,
 * so "revision N" always names one exact state and "changes since N" is
 * complete (the config stream builds on this). Writes are serialized by the
 * revision row: revisions commit in order. The change's events for outside
 * systems are written to the outbox in the same transaction.
 */
import { sql } from 'kysely';
import { isForeignKeyViolation, isUniqueViolation, type ControlDb } from '../db.js';
import { settingsAndExitsProblem } from '../render.js';
import { ApiError } from '../errors.js';
import type { ChangeRecord, Entity, Op } from './records.js';
import { readSettings } from './settings.js';
import { newEvent, type EventData, type NewEvent } from '../events/kinds.js';
import { writeEvents } from './outbox.js';
import { NO_CHANGE, now, type Db, type EmitEvent, type RecordChange, type Tx } from './tx.js';

export class Revisions {
  private readonly committedListeners = new Set<(revision: number) => void>();

  /** `eventsWritten`: told after a commit that wrote outbox events (wakes this process's deliverer). */
  constructor(
    private readonly cdb: ControlDb,
    private readonly eventsWritten: () => void = () => undefined,
  ) {}

  /** PostgreSQL NOTIFY channel announcing new revisions (one per schema, so schemas do not hear each other). */
  get notifyChannel(): string {
    return `hopgate_revision_${this.cdb.target.schema ?? 'public'}`;
  }

  /** Called after every committed change in this process, with its revision. Returns an unsubscribe. */
  onCommitted(listener: (revision: number) => void): () => void {
    this.committedListeners.add(listener);
    return () => void this.committedListeners.delete(listener);
  }

  private emitCommitted(revision: number): void {
    for (const l of this.committedListeners) {
      try {
        l(revision);
      } catch {
        /* a listener's problem is its own */
      }
    }
  }

  async revision(db: Db = this.cdb.db): Promise<number> {
    const row = await db.selectFrom('config_state').select('revision').where('id', '=', 1).executeTakeFirstOrThrow();
    return Number(row.revision);
  }

  async changes(since: number, limit: number): Promise<ChangeRecord[]> {
    const rows = await this.cdb.db
      .selectFrom('change_log')
      .selectAll()
      .where('revision', '>', since)
      .orderBy('revision')
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      revision: Number(r.revision),
      seq: r.seq,
      at: r.at,
      entity: r.entity,
      entityId: r.entity_id,
      op: r.op,
      actor: r.actor,
    }));
  }

  /**
   * Run `fn` as one change: bump the revision first (which also serializes
   * writers on PostgreSQL), let `fn` write and record what it touched, then
   * append the change-log entries. A throw rolls everything back. An arrow
   * so the repositories can hold it as their RunChange.
   */
  readonly change = async <T>(actor: string, fn: (trx: Tx, record: RecordChange, emit: EmitEvent) => Promise<T>): Promise<T> => {
    let committed: number | undefined;
    let wroteEvents = false;
    try {
      const result = await this.cdb.db.transaction().execute(async (trx) => {
        const bumped = await trx
          .updateTable('config_state')
          .set((eb) => ({ revision: eb('revision', '+', 1) }))
          .where('id', '=', 1)
          .returning('revision')
          .executeTakeFirstOrThrow();
        const revision = Number(bumped.revision);
        const entries: Array<{ entity: Entity; id: string; op: Op }> = [];
        const events: NewEvent[] = [];
        const emit: EmitEvent = (kind, entityId, data) => {
          events.push(newEvent(kind, `${kind}:${entityId}:${revision}`, { ...data, revision, actor } as EventData<typeof kind>));
        };
        const value = await fn(trx, (entity, id, op) => entries.push({ entity, id, op }), emit);
        // Settings and exits must still make one valid ingress configuration (a reverse exit
        // needs a tunnel certificate, a published site a reverse exit…): refuse here, not at every ingress.
        if (entries.some((e) => e.entity === 'exit' || e.entity === 'setting')) {
          const exits = await trx.selectFrom('exits').select(['id', 'kind', 'egress_ip', 'drain']).execute();
          const problem = settingsAndExitsProblem(
            await readSettings(trx),
            exits.map((e) => ({ id: e.id, kind: e.kind, egressIp: e.egress_ip, drain: Number(e.drain) === 1 })),
          );
          if (problem) throw new ApiError(400, 'invalid_configuration', `the ingress configuration would be invalid: ${problem}`);
        }
        if (entries.length > 0) {
          const at = now();
          await trx
            .insertInto('change_log')
            .values(entries.map((e, seq) => ({ revision, seq, at, entity: e.entity, entity_id: e.id, op: e.op, actor })))
            .execute();
        }
        // In the same transaction: an event exists exactly when its change committed.
        wroteEvents = (await writeEvents(trx, events)) > 0;
        // Other control-plane processes on this database hear of it on commit (LISTEN/NOTIFY).
        if (this.cdb.target.dialect === 'postgres') await sql`select pg_notify(${this.notifyChannel}, ${String(revision)})`.execute(trx);
        committed = revision;
        return value;
      });
      if (committed !== undefined) this.emitCommitted(committed);
      if (wroteEvents) this.eventsWritten();
      return result;
    } catch (err) {
      if (err === NO_CHANGE) return undefined as T;
      if (err instanceof ApiError) throw err;
      if (isUniqueViolation(err)) throw new ApiError(409, 'conflict', `already exists (${(err as Error).message})`);
      if (isForeignKeyViolation(err)) throw new ApiError(409, 'conflict', `refers to something that does not exist or is in use (${(err as Error).message})`);
      throw err;
    }
  };
}

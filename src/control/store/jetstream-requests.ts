/**
 * The keys of change messages taken in over JetStream (nats-requests/): a
 * request's Nats-Msg-Id is claimed (inserted, the primary key decides between
 * replicas) before its operation runs, and its answer is kept after, so a
 * redelivered or duplicated request is answered again instead of applied again.
 */
import type { Db } from './tx.js';

/** What a claim found: the key is ours to run, already answered, or held by a run not finished. */
export type RequestClaim = { readonly state: 'new' } | { readonly state: 'done'; readonly answer: string } | { readonly state: 'pending'; readonly claimedAt: number };

export class JetStreamRequestKeys {
  constructor(private readonly db: Db) {}

  async claim(msgId: string, operation: string, nowMs = Date.now()): Promise<RequestClaim> {
    const r = await this.db
      .insertInto('jetstream_requests')
      .values({ msg_id: msgId, operation, state: 'pending', answer: null, claimed_at: Math.round(nowMs), done_at: null })
      .onConflict((oc) => oc.column('msg_id').doNothing())
      .executeTakeFirst();
    if (Number(r.numInsertedOrUpdatedRows ?? 0n) === 1) return { state: 'new' };
    const row = await this.db.selectFrom('jetstream_requests').select(['state', 'answer', 'claimed_at']).where('msg_id', '=', msgId).executeTakeFirst();
    // Pruned between the insert and the read: a later message takes it.
    if (!row) return { state: 'pending', claimedAt: Math.round(nowMs) };
    if (row.state === 'done' && row.answer !== null) return { state: 'done', answer: row.answer };
    return { state: 'pending', claimedAt: Number(row.claimed_at) };
  }

  /** The operation ran: keep its answer for replays. */
  async finish(msgId: string, answer: string, nowMs = Date.now()): Promise<void> {
    await this.db.updateTable('jetstream_requests').set({ state: 'done', answer, done_at: Math.round(nowMs) }).where('msg_id', '=', msgId).execute();
  }

  /**
   * A claim left by a run that never finished (its replica died): settle it with `answer`
   * (the request is in doubt) — only if still that same claim, so a late finish wins.
   */
  async settleStale(msgId: string, claimedAt: number, answer: string, nowMs = Date.now()): Promise<boolean> {
    const r = await this.db
      .updateTable('jetstream_requests')
      .set({ state: 'done', answer, done_at: Math.round(nowMs) })
      .where('msg_id', '=', msgId)
      .where('state', '=', 'pending')
      .where('claimed_at', '=', claimedAt)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** The operation did not run (the database was unavailable): the key may be claimed again. */
  async release(msgId: string): Promise<void> {
    await this.db.deleteFrom('jetstream_requests').where('msg_id', '=', msgId).where('state', '=', 'pending').execute();
  }

  /** Forget answers older than `beforeMs` (the replay horizon). */
  async prune(beforeMs: number): Promise<number> {
    const r = await this.db.deleteFrom('jetstream_requests').where('state', '=', 'done').where('done_at', '<', Math.round(beforeMs)).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

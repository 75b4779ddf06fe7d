/**
 * The outbox: events for outside systems (src/control/events/), written by
 * `writeEvents` in the transaction of the change they tell of, then fanned
 * out to one delivery per interested webhook and sent by the deliverer
 * (events/deliverer.ts). Claims are safe with several control-plane replicas
 * on PostgreSQL (FOR UPDATE SKIP LOCKED; a claimed delivery's next_at is its
 * sender's lease, so a replica that dies mid-send leaves it due again);
 * SQLite has one writer.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { notFound } from '../errors.js';
import type { DbTarget } from '../db.js';
import { newEvent, type EventEnvelopeT, type EventKind, type NewEvent } from '../events/kinds.js';
import { parseJson } from './json-columns.js';
import { now, type Db, type Tx } from './tx.js';

/**
 * The one way an event enters the outbox: inside the caller's transaction, so
 * it commits or rolls back with the change it tells of. A key already present
 * is skipped (the same fact written twice is one event). Returns how many were new.
 */
export async function writeEvents(trx: Tx, events: readonly NewEvent[], at = now()): Promise<number> {
  let added = 0;
  for (const e of events) {
    const r = await trx
      .insertInto('outbox')
      .values({ idempotency_key: storedKey(e.kind, e.idempotencyKey), kind: e.kind, occurred_at: at, payload: JSON.stringify(e.data), dispatched: 0 })
      .onConflict((oc) => oc.column('idempotency_key').doNothing())
      .executeTakeFirst();
    added += Number(r.numInsertedOrUpdatedRows ?? 0n);
  }
  return added;
}

/** The column holds 255 characters: a longer key (long ids in a usage key) is stored as its hash, as stable and as unique. */
export function storedKey(kind: string, key: string): string {
  return key.length <= 255 ? key : `${kind}:sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** The cluster-view key exitTransitions writes: `exit.down:<exit>:after:<event id>` (ids have no ':'). */
const TRANSITION_KEY = /^exit\.(?:down|up):([^:]+):after:\d+$/;

/**
 * The last exit.down / exit.up of the cluster's view, by exit: one read of the exit events
 * (newest first), not one scan of the outbox per exit, since this runs in every change.
 */
async function lastExitTransitions(trx: Tx): Promise<Map<string, { id: number; kind: string }>> {
  const rows = await trx.selectFrom('outbox').select(['id', 'kind', 'idempotency_key']).where('kind', 'in', ['exit.down', 'exit.up']).orderBy('id', 'desc').execute();
  const last = new Map<string, { id: number; kind: string }>();
  for (const r of rows) {
    const exitId = TRANSITION_KEY.exec(r.idempotency_key)?.[1];
    if (exitId !== undefined && !last.has(exitId)) last.set(exitId, { id: Number(r.id), kind: r.kind });
  }
  return last;
}

/** A delivery a replica has claimed: what it needs to send it. */
export interface ClaimedDelivery {
  readonly id: number;
  readonly attempts: number;
  /** The next_at this claim set: the delivery is still this claim's while it holds. */
  readonly lease: number;
  readonly webhookId: string;
  readonly url: string;
  readonly secret: string;
  readonly event: EventEnvelopeT;
}

export interface AttemptResult {
  readonly statusCode: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
  readonly ok: boolean;
}

export interface DeliveryLogEntry {
  readonly deliveryId: number;
  readonly eventId: number;
  readonly kind: string;
  readonly state: 'pending' | 'delivered' | 'failed';
  readonly attempt: number;
  readonly at: string;
  readonly statusCode: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
}

export interface DeliveryState {
  readonly deliveryId: number;
  readonly webhookId: string;
  readonly eventId: number;
  readonly state: 'pending' | 'delivered' | 'failed';
  readonly attempts: number;
}

type OutboxRow = { id: number; idempotency_key: string; kind: string; occurred_at: string; payload: string };

function envelope(r: OutboxRow): EventEnvelopeT {
  return { id: Number(r.id), kind: r.kind as EventKind, idempotencyKey: r.idempotency_key, occurredAt: r.occurred_at, data: parseJson<Record<string, unknown>>(r.payload, {}) };
}

/** Does a webhook with this kinds filter (JSON list; empty: all) want `kind`? */
export function wants(kindsJson: string, kind: string): boolean {
  const kinds = parseJson<string[]>(kindsJson, []);
  return kinds.length === 0 || kinds.includes(kind);
}

export class OutboxRepo {
  private readonly written = new Set<() => void>();
  /** Set while a JetStream sink is configured: prune keeps events it has not acked yet. */
  keepUntilPublished = false;

  constructor(
    private readonly db: Db,
    private readonly dialect: DbTarget['dialect'],
  ) {}

  /** Called after a commit in this process wrote events (the deliverer wakes at once instead of at its next poll). */
  onWritten(listener: () => void): () => void {
    this.written.add(listener);
    return () => void this.written.delete(listener);
  }

  /** For the writers: tell the listeners (after commit). */
  readonly notifyWritten = (): void => {
    for (const l of this.written) {
      try {
        l();
      } catch {
        /* a listener's problem is its own */
      }
    }
  };

  /**
   * Exit health as one observer saw it (exit.down / exit.up), for per-observer reports;
   * the cluster's view is written by exitTransitions below. Keyed by exit, observer
   * and transition time, so a repeated report is one event.
   */
  async exitHealth(t: { exitId: string; up: boolean; observer?: string; reason: string; at: string }, trx?: Tx): Promise<number> {
    const kind = t.up ? 'exit.up' : 'exit.down';
    const ev = newEvent(kind, `${kind}:${t.exitId}:${t.observer ?? ''}:${t.at}`, { exit: { id: t.exitId }, reason: t.reason, ...(t.observer !== undefined ? { observer: t.observer } : {}) });
    const n = trx ? await writeEvents(trx, [ev], t.at) : await this.db.transaction().execute((x) => writeEvents(x, [ev], t.at));
    if (n > 0 && !trx) this.notifyWritten();
    return n;
  }

  /**
   * exit.down / exit.up for the cluster's view of each exit (down when any fresh ingress
   * report says so), one event per real transition. The outbox is the state: the last
   * exit.* event of an exit says what was announced; a differing state writes the other
   * kind keyed by that last event's id, so replicas (or ingress reports) racing on the same
   * transition compute the same key and the unique key keeps one. Starts from "up": an
   * exit never announced writes nothing until it goes down. Returns events written.
   */
  async exitTransitions(trx: Tx, exitIds: readonly string[], isDown: (exitId: string) => boolean, reason: string, at: string): Promise<number> {
    const last = await lastExitTransitions(trx);
    let n = 0;
    for (const exitId of exitIds) {
      const prev = last.get(exitId);
      const announcedDown = prev?.kind === 'exit.down';
      const down = isDown(exitId);
      if (down === announcedDown) continue;
      const kind = down ? 'exit.down' : 'exit.up';
      n += await writeEvents(trx, [newEvent(kind, `${kind}:${exitId}:after:${prev?.id ?? 0}`, { exit: { id: exitId }, reason })], at);
    }
    if (n > 0) this.notifyWritten();
    return n;
  }

  async list(q: { after?: number; limit?: number; kind?: string } = {}): Promise<EventEnvelopeT[]> {
    let b = this.db.selectFrom('outbox').select(['id', 'idempotency_key', 'kind', 'occurred_at', 'payload']).orderBy('id').limit(Math.min(q.limit ?? 100, 1000));
    if (q.after !== undefined) b = b.where('id', '>', q.after);
    if (q.kind !== undefined) b = b.where('kind', '=', q.kind);
    return (await b.execute()).map(envelope);
  }

  async get(id: number): Promise<EventEnvelopeT | undefined> {
    const r = await this.db.selectFrom('outbox').select(['id', 'idempotency_key', 'kind', 'occurred_at', 'payload']).where('id', '=', id).executeTakeFirst();
    return r ? envelope(r) : undefined;
  }

  /**
   * Fan out up to `limit` undispatched events: one pending delivery per enabled
   * webhook that wants the kind, then mark them dispatched. Returns how many events.
   */
  private async fanOut(trx: Tx, limit: number, nowMs: number): Promise<number> {
    let q = trx.selectFrom('outbox').select(['id', 'kind']).where('dispatched', '=', 0).orderBy('id').limit(limit);
    if (this.dialect === 'postgres') q = q.forUpdate().skipLocked();
    const events = await q.execute();
    if (events.length === 0) return 0;
    const hooks = await trx.selectFrom('webhooks').select(['id', 'kinds']).where('enabled', '=', 1).execute();
    const created = now();
    const rows = events.flatMap((e) =>
      hooks.filter((h) => wants(h.kinds, e.kind)).map((h) => ({ webhook_id: h.id, event_id: Number(e.id), state: 'pending' as const, attempts: 0, next_at: nowMs, created_at: created })),
    );
    for (let i = 0; i < rows.length; i += 500) {
      await trx
        .insertInto('webhook_deliveries')
        .values(rows.slice(i, i + 500))
        .onConflict((oc) => oc.columns(['webhook_id', 'event_id']).doNothing())
        .execute();
    }
    await trx.updateTable('outbox').set({ dispatched: 1 }).where('id', 'in', events.map((e) => Number(e.id))).execute();
    return events.length;
  }

  /**
   * Claim up to `limit` due deliveries of enabled webhooks, oldest due first:
   * their next_at moves to now + `leaseMs`, so no other replica sends them
   * meanwhile, and they are due again if this one never reports. New events
   * are fanned out first, in the same transaction (one commit less per event).
   */
  async claim(limit: number, leaseMs: number, nowMs = Date.now(), fanOut = 200): Promise<{ dispatched: number; due: ClaimedDelivery[] }> {
    return this.db.transaction().execute(async (trx) => {
      const dispatched = fanOut > 0 ? await this.fanOut(trx, fanOut, nowMs) : 0;
      let q = trx
        .selectFrom('webhook_deliveries as d')
        .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
        .select('d.id')
        .where('d.state', '=', 'pending')
        .where('d.next_at', '<=', nowMs)
        .where('w.enabled', '=', 1)
        .orderBy('d.next_at')
        .orderBy('d.id')
        .limit(limit);
      if (this.dialect === 'postgres') q = q.forUpdate(['d']).skipLocked();
      const ids = (await q.execute()).map((r) => Number(r.id));
      if (ids.length === 0) return { dispatched, due: [] };
      const lease = nowMs + leaseMs;
      await trx.updateTable('webhook_deliveries').set({ next_at: lease }).where('id', 'in', ids).execute();
      const rows = await trx
        .selectFrom('webhook_deliveries as d')
        .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
        .innerJoin('outbox as o', 'o.id', 'd.event_id')
        .select(['d.id as delivery_id', 'd.attempts', 'w.id as webhook_id', 'w.url', 'w.secret', 'o.id', 'o.idempotency_key', 'o.kind', 'o.occurred_at', 'o.payload'])
        .where('d.id', 'in', ids)
        .orderBy('o.id')
        .execute();
      return { dispatched, due: rows.map((r) => ({ id: Number(r.delivery_id), attempts: Number(r.attempts), lease, webhookId: r.webhook_id, url: r.url, secret: r.secret, event: envelope(r) })) };
    });
  }

  /**
   * Log one attempt and move the delivery on: delivered, failed (no more
   * attempts), or due again at `nextAt` — unless it is no longer this claim's
   * (redelivered meanwhile, or its lease ran out and another replica took it):
   * then only the log entry is written, and the newer state stands.
   */
  async record(d: ClaimedDelivery, attempt: number, r: AttemptResult, next: { state: 'pending' | 'delivered' | 'failed'; nextAt: number }): Promise<void> {
    const at = now();
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('webhook_attempts')
        .values({ delivery_id: d.id, webhook_id: d.webhookId, event_id: d.event.id, attempt, at, status_code: r.statusCode, latency_ms: Math.round(r.latencyMs), error: r.error?.slice(0, 500) ?? null })
        .execute();
      await trx
        .updateTable('webhook_deliveries')
        .set({ state: next.state, attempts: attempt, next_at: next.nextAt, last_status: r.statusCode, last_error: r.error?.slice(0, 500) ?? null, ...(next.state === 'delivered' ? { delivered_at: at } : {}) })
        .where('id', '=', d.id)
        .where('next_at', '=', d.lease)
        .execute();
    });
  }

  /**
   * Send event `eventId` again: every delivery it has (delivered or failed)
   * becomes pending with fresh attempts, and enabled webhooks that want its
   * kind but have none get one (or only `webhookId`'s). 404 for an unknown event or webhook.
   */
  async redeliver(eventId: number, webhookId?: string, nowMs = Date.now()): Promise<DeliveryState[]> {
    await this.db.transaction().execute(async (trx) => {
      const ev = await trx.selectFrom('outbox').select(['id', 'kind']).where('id', '=', eventId).executeTakeFirst();
      if (!ev) throw notFound('event', String(eventId));
      let hq = trx.selectFrom('webhooks').select(['id', 'kinds', 'enabled']);
      if (webhookId !== undefined) hq = hq.where('id', '=', webhookId);
      const hooks = await hq.execute();
      if (webhookId !== undefined && hooks.length === 0) throw notFound('webhook', webhookId);
      const existing = new Set((await trx.selectFrom('webhook_deliveries').select('webhook_id').where('event_id', '=', eventId).execute()).map((r) => r.webhook_id));
      const targets = hooks.filter((h) => existing.has(h.id) || webhookId !== undefined || (Number(h.enabled) === 1 && wants(h.kinds, ev.kind)));
      for (const h of targets) {
        if (existing.has(h.id)) {
          await trx.updateTable('webhook_deliveries').set({ state: 'pending', attempts: 0, next_at: nowMs, delivered_at: null }).where('event_id', '=', eventId).where('webhook_id', '=', h.id).execute();
        } else {
          await trx.insertInto('webhook_deliveries').values({ webhook_id: h.id, event_id: eventId, state: 'pending', attempts: 0, next_at: nowMs, created_at: now() }).execute();
        }
      }
    });
    this.notifyWritten();
    const rows = await this.db.selectFrom('webhook_deliveries').select(['id', 'webhook_id', 'event_id', 'state', 'attempts']).where('event_id', '=', eventId).orderBy('id').execute();
    return rows
      .filter((r) => webhookId === undefined || r.webhook_id === webhookId)
      .map((r) => ({ deliveryId: Number(r.id), webhookId: r.webhook_id, eventId: Number(r.event_id), state: r.state, attempts: Number(r.attempts) }));
  }

  /** The delivery log of a webhook, newest attempt first. */
  async log(webhookId: string, q: { limit?: number; eventId?: number } = {}): Promise<DeliveryLogEntry[]> {
    let b = this.db
      .selectFrom('webhook_attempts as a')
      .innerJoin('webhook_deliveries as d', 'd.id', 'a.delivery_id')
      .innerJoin('outbox as o', 'o.id', 'a.event_id')
      .select(['a.delivery_id', 'a.event_id', 'o.kind', 'd.state', 'a.attempt', 'a.at', 'a.status_code', 'a.latency_ms', 'a.error'])
      .where('a.webhook_id', '=', webhookId)
      .orderBy('a.id', 'desc')
      .limit(Math.min(q.limit ?? 100, 1000));
    if (q.eventId !== undefined) b = b.where('a.event_id', '=', q.eventId);
    return (await b.execute()).map((r) => ({
      deliveryId: Number(r.delivery_id),
      eventId: Number(r.event_id),
      kind: r.kind,
      state: r.state,
      attempt: Number(r.attempt),
      at: r.at,
      statusCode: r.status_code === null ? null : Number(r.status_code),
      latencyMs: Number(r.latency_ms),
      error: r.error,
    }));
  }

  /** Deliveries of a webhook by state (for `webhooks list`). */
  async counts(): Promise<Map<string, Record<'pending' | 'delivered' | 'failed', number>>> {
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .select(['webhook_id', 'state', sql<number>`count(*)`.as('n')])
      .groupBy(['webhook_id', 'state'])
      .execute();
    const out = new Map<string, Record<'pending' | 'delivered' | 'failed', number>>();
    for (const r of rows) {
      const c = out.get(r.webhook_id) ?? { pending: 0, delivered: 0, failed: 0 };
      c[r.state] = Number(r.n);
      out.set(r.webhook_id, c);
    }
    return out;
  }

  /**
   * Forget events older than `beforeIso` once dispatched and no longer pending
   * (their deliveries and attempts go with them), at most `limit` per call.
   */
  async prune(beforeIso: string, limit = 1000): Promise<number> {
    const old = await this.db
      .selectFrom('outbox as o')
      .select('o.id')
      .where('o.occurred_at', '<', beforeIso)
      .where('o.dispatched', '=', 1)
      .where('o.js_published', '>=', this.keepUntilPublished ? 1 : 0)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('webhook_deliveries as d').select('d.id').whereRef('d.event_id', '=', 'o.id').where('d.state', '=', 'pending'))))
      .orderBy('o.id')
      .limit(limit)
      .execute();
    if (old.length === 0) return 0;
    const ids = old.map((r) => Number(r.id));
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('webhook_attempts').where('event_id', 'in', ids).execute();
      await trx.deleteFrom('webhook_deliveries').where('event_id', 'in', ids).execute();
      await trx.deleteFrom('outbox').where('id', 'in', ids).execute();
    });
    return ids.length;
  }
}

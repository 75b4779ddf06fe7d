/**
 * The webhook deliverer of a control-plane process: fans new outbox events
 * out to the webhooks that want them, claims due deliveries (safe beside
 * other replicas: store/outbox.ts), sends each signed (signature.ts) and
 * bounded (http-post.ts), and records the attempt: delivered on a 2xx, else
 * retried with exponential back-off and jitter (shared/backoff.ts) until
 * `maxAttempts`, then failed (POST /v1/events/:id/redeliver sends it again).
 * At least once: a receiver drops repeats by X-Hopgate-Idempotency-Key.
 */
import http from 'node:http';
import https from 'node:https';
import { backoffDelay, type BackoffPolicy } from '../../shared/backoff.js';
import type { Logger } from '../../shared/log.js';
import type { ClaimedDelivery, OutboxRepo } from '../store/outbox.js';
import { postJson } from './http-post.js';
import { signatureOf } from './signature.js';
import { RoundLoop } from './round-loop.js';

export interface DelivererOptions {
  /** How often the outbox is looked at besides this process's own writes (default 500 ms). */
  readonly pollMs?: number;
  /** Deliveries sent at once (default 16). */
  readonly concurrency?: number;
  /** Attempts before a delivery is failed (default 16: 40–80 minutes of trying). */
  readonly maxAttempts?: number;
  /** Retry delays (default 1 s doubling to 10 min, half jittered). */
  readonly backoff?: BackoffPolicy;
  /** Whole-request bound (default 10 s). */
  readonly timeoutMs?: number;
  /** Response body read at most (default 64 KiB). */
  readonly maxResponseBytes?: number;
  /** Events (and their delivery log) kept this long once nothing is pending (default 7 days). */
  readonly retentionMs?: number;
  readonly log?: Logger;
  /** Wall clock; tests move it. */
  readonly now?: () => number;
}

export const DELIVERY_DEFAULTS = Object.freeze({
  pollMs: 500,
  concurrency: 16,
  maxAttempts: 16,
  backoff: { baseMs: 1000, maxMs: 600_000, jitter: 0.5 },
  timeoutMs: 10_000,
  maxResponseBytes: 64 * 1024,
  retentionMs: 7 * 24 * 3600_000,
});

export class WebhookDeliverer {
  private timer: NodeJS.Timeout | undefined;
  private lastPrune = 0;
  private readonly rounds = new RoundLoop(() => this.round(), {
    failing: (err) => this.o.log?.warn({ err: err.message }, 'webhook rounds failing (database unavailable?); retried every poll, logged again once they succeed'),
    recovered: (failedRounds) => this.o.log?.info({ failedRounds }, 'webhook rounds succeed again'),
  });
  private readonly unsubscribe: () => void;
  private readonly o: Required<Omit<DelivererOptions, 'log'>> & { log?: Logger };
  private readonly agents = { http: new http.Agent({ keepAlive: true, maxSockets: 8 }), https: new https.Agent({ keepAlive: true, maxSockets: 8 }) };

  constructor(
    private readonly outbox: OutboxRepo,
    o: DelivererOptions = {},
  ) {
    this.o = { ...DELIVERY_DEFAULTS, now: Date.now, ...o };
    this.unsubscribe = outbox.onWritten(() => this.kick());
  }

  start(): void {
    this.timer = setInterval(() => this.kick(), this.o.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Run a round now (or right after the one running). */
  kick(): void {
    this.rounds.kick();
  }

  /** One round: fan out new events, send due deliveries, now and then prune. True when there may be more. */
  async round(): Promise<boolean> {
    const nowMs = this.o.now();
    const { dispatched, due } = await this.outbox.claim(this.o.concurrency, this.o.timeoutMs * 3, nowMs, 200);
    await Promise.all(due.map((d) => this.send(d)));
    if (nowMs - this.lastPrune > 60_000) {
      this.lastPrune = nowMs;
      await this.outbox.prune(new Date(nowMs - this.o.retentionMs).toISOString());
    }
    return dispatched === 200 || due.length === this.o.concurrency;
  }

  private async send(d: ClaimedDelivery): Promise<void> {
    const body = JSON.stringify(d.event);
    const ts = Math.floor(this.o.now() / 1000);
    const headers = {
      'x-hopgate-event': d.event.kind,
      'x-hopgate-delivery': String(d.id),
      'x-hopgate-idempotency-key': d.event.idempotencyKey,
      'x-hopgate-timestamp': String(ts),
      'x-hopgate-signature': signatureOf(d.secret, ts, body),
    };
    const r = await postJson(d.url, headers, body, { timeoutMs: this.o.timeoutMs, maxResponseBytes: this.o.maxResponseBytes, agents: this.agents });
    const attempt = d.attempts + 1;
    const ok = r.error === null;
    const state = ok ? 'delivered' : attempt >= this.o.maxAttempts ? 'failed' : 'pending';
    // Whole milliseconds: next_at is a bigint column (PostgreSQL refuses a fraction).
    const nextAt = Math.round(state === 'pending' ? this.o.now() + backoffDelay(attempt - 1, this.o.backoff) : this.o.now());
    if (!ok) this.o.log?.info({ webhook: d.webhookId, event: d.event.id, attempt, status: r.statusCode, err: r.error, state }, 'webhook delivery failed');
    try {
      await this.outbox.record(d, attempt, { ...r, ok }, { state, nextAt });
    } catch (err) {
      // Not recorded: the lease runs out and the delivery is sent again (at least once).
      this.o.log?.warn({ webhook: d.webhookId, event: d.event.id, err: (err as Error).message }, 'webhook attempt not recorded');
    }
  }

  /** Rounds failed in a row so far (0 while healthy). */
  get failedRounds(): number {
    return this.rounds.failedRounds;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.unsubscribe();
    await this.rounds.close();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

/**
 * Outbox events to NATS JetStream (docs/EVENTS.md): each event is published
 * on `<prefix>.<kind>` with the header Nats-Msg-Id = its idempotency key, so
 * the stream's duplicate window drops a replay (a replica that died after the
 * ack but before marking it published). At least once: an event is marked
 * published only once acked; a failed publish is due again after a back-off
 * (shared/backoff.ts) while NATS is down. Claims are the outbox's
 * (store/jetstream-outbox.ts), safe beside other replicas.
 */
import { headers, nanos, RetentionPolicy, StorageType, type Authenticator, type JetStreamClient, type NatsConnection } from 'nats';
import { backoffDelay, type BackoffPolicy } from '../../shared/backoff.js';
import type { Logger } from '../../shared/log.js';
import type { ControlMetrics } from '../metrics.js';
import type { OutboxRepo } from '../store/outbox.js';
import type { JetStreamOutbox } from '../store/jetstream-outbox.js';
import { RoundLoop } from './round-loop.js';
import { dialUntilClosed, ensureStream, natsAuthenticator, type NatsDialOptions } from './nats-dial.js';

export interface JetStreamSinkOptions extends NatsDialOptions {
  /** Subject prefix (default hopgate.events): events go to `<prefix>.<kind>`. */
  readonly subjectPrefix?: string;
  /** Stream ensured on start (default HOPGATE_EVENTS, file storage). */
  readonly stream?: string;
  /** The stream's duplicate window (default 2 min). */
  readonly duplicateWindowMs?: number;
  readonly pollMs?: number;
  readonly batch?: number;
  readonly publishTimeoutMs?: number;
  readonly backoff?: BackoffPolicy;
}

export const JETSTREAM_DEFAULTS = Object.freeze({
  subjectPrefix: 'hopgate.events',
  stream: 'HOPGATE_EVENTS',
  duplicateWindowMs: 120_000,
  pollMs: 500,
  batch: 100,
  publishTimeoutMs: 5000,
  backoff: { baseMs: 500, maxMs: 30_000, jitter: 0.5 },
});

/** A claim's lease, in publish timeouts. */
const LEASE_TIMEOUTS = 3;

export class JetStreamPublisher {
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private streamReady = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private connecting: Promise<void> | undefined;
  private readonly rounds = new RoundLoop(() => this.round(), {
    failing: (err) => this.log?.warn({ err: err.message }, 'JetStream rounds failing; events stay in the outbox and are retried'),
    recovered: (failedRounds) => this.log?.info({ failedRounds }, 'JetStream rounds succeed again'),
  });
  private readonly unsubscribe: () => void;
  private readonly o: Required<Omit<JetStreamSinkOptions, 'credsFile' | 'user' | 'pass'>> & JetStreamSinkOptions;

  constructor(
    private readonly repo: JetStreamOutbox,
    outbox: OutboxRepo,
    o: JetStreamSinkOptions,
    private readonly metrics?: ControlMetrics,
    private readonly log?: Logger,
  ) {
    this.o = { ...JETSTREAM_DEFAULTS, ...o };
    this.unsubscribe = outbox.onWritten(() => this.kick());
  }

  /** Connects in the background (NATS down at start is an outage like any other). */
  start(): void {
    const authenticator = natsAuthenticator(this.o);
    this.timer = setInterval(() => this.kick(), this.o.pollMs);
    this.timer.unref();
    this.connecting = this.connectUntilClosed(authenticator);
  }

  private async connectUntilClosed(authenticator: Authenticator | undefined): Promise<void> {
    const nc = await dialUntilClosed(this.o, authenticator, {
      name: 'hopgate-control',
      timeoutMs: this.o.publishTimeoutMs,
      closed: () => this.closed,
      log: this.log,
      downMessage: 'NATS not reachable; events stay in the outbox, dialing again',
    });
    if (!nc) return;
    this.nc = nc;
    this.js = nc.jetstream({ timeout: this.o.publishTimeoutMs });
    this.kick();
  }

  kick(): void {
    if (this.js) this.rounds.kick();
  }

  private async ensureStream(): Promise<void> {
    if (this.streamReady || !this.nc) return;
    const jsm = await this.nc.jetstreamManager({ timeout: this.o.publishTimeoutMs });
    await ensureStream(jsm, { name: this.o.stream, subjects: [`${this.o.subjectPrefix}.>`], storage: StorageType.File, retention: RetentionPolicy.Limits, duplicate_window: nanos(this.o.duplicateWindowMs) });
    this.streamReady = true;
  }

  /** One batch: publish claimed events in id order, mark the acked ones, back off the rest. True when there may be more. */
  async round(): Promise<boolean> {
    const js = this.js;
    if (!js) return false;
    await this.ensureStream();
    const claimedAt = Date.now();
    const events = await this.repo.claim(this.o.batch, this.o.publishTimeoutMs * LEASE_TIMEOUTS, claimedAt);
    const acked: number[] = [];
    let failedFrom = events.length;
    let givenBack: number[] = [];
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      // A slow NATS must not outlast the lease (another replica would publish the same events):
      // publish for one timeout, finish within two, mark within three; give the rest back.
      if (Date.now() - claimedAt > this.o.publishTimeoutMs) {
        givenBack = events.slice(i).map((x) => x.id);
        break;
      }
      const h = headers();
      h.set('Nats-Msg-Id', e.idempotencyKey);
      h.set('Hopgate-Event-Kind', e.kind);
      try {
        await js.publish(`${this.o.subjectPrefix}.${e.kind}`, JSON.stringify(e), { msgID: e.idempotencyKey, headers: h, timeout: this.o.publishTimeoutMs });
      } catch (err) {
        // Stop at the first failure: later events wait with it, keeping the order.
        failedFrom = i;
        this.log?.info({ event: e.id, err: (err as Error).message }, 'JetStream publish failed');
        break;
      }
      acked.push(e.id);
      this.metrics?.jsPublished.inc();
      this.metrics?.jsSeconds.observe(Math.max(0, Date.now() - Date.parse(e.occurredAt)) / 1000);
    }
    await this.repo.published(acked);
    if (givenBack.length > 0) {
      await this.repo.retryAt(givenBack, Date.now());
      return true;
    }
    if (failedFrom < events.length) {
      this.metrics?.jsFailures.inc(events.length - failedFrom);
      const attempt = Math.min(this.rounds.failedRounds, 20);
      await this.repo.retryAt(events.slice(failedFrom).map((e) => e.id), Date.now() + backoffDelay(attempt, this.o.backoff));
      throw new Error('JetStream publish not acked');
    }
    if (this.metrics) this.metrics.jsBacklog.set(await this.repo.backlog());
    return events.length === this.o.batch;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.unsubscribe();
    await this.connecting;
    await this.rounds.close();
    await this.nc?.drain().catch(() => undefined);
  }
}

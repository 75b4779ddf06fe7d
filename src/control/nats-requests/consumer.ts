/**
 * Change messages in (docs/EVENTS.md): a durable JetStream pull consumer on the
 * request stream. Each message on `<prefix>.<operationId>` runs that REST
 * operation (dispatch.ts) once per Nats-Msg-Id, across redeliveries,
 * duplicates and replicas (store/jetstream-requests.ts), and its answer goes to
 * the subject in the Hopgate-Reply-To header. A bad message is answered with an
 * error and terminated; nothing a message carries can stop the consumer.
 */
import { AckPolicy, DeliverPolicy, headers, nanos, RetentionPolicy, StorageType, type JsMsg, type NatsConnection } from 'nats';
import type { Logger } from '../../shared/log.js';
import { ApiError } from '../errors.js';
import type { ControlMetrics } from '../metrics.js';
import { dialUntilClosed, ensureStream, natsAuthenticator, type NatsDialOptions } from '../events/nats-dial.js';
import type { JetStreamRequestKeys } from '../store/jetstream-requests.js';
import type { OperationTable, RestAnswer } from './dispatch.js';
import { storedAnswer } from './redact.js';
import { RequestEnvelope, type AnswerT } from './schemas.js';

export interface NatsRequestOptions {
  /** Stream ensured on start (default HOPGATE_REQUESTS: work queue, file storage). */
  readonly stream?: string;
  /** Requests arrive on `<prefix>.<operationId>` (default hopgate.requests). */
  readonly subjectPrefix?: string;
  /** The durable consumer all replicas share (default hopgate-control). */
  readonly durable?: string;
  /** A larger message is answered 413 and not run (default 64 KiB). */
  readonly maxBytes?: number;
  /** Subjects an answer may go to (default _INBOX. and hopgate.replies.). */
  readonly replyPrefixes?: readonly string[];
  /** Unacked this long, a message is delivered again (default 30 s). */
  readonly ackWaitMs?: number;
  /** A claim older than this whose run never finished is answered as in doubt (default 60 s). */
  readonly staleMs?: number;
  /** A message that must wait (its key held by a run, the database down) comes back after this (default 1 s). */
  readonly retryDelayMs?: number;
  /** Answers are kept for replays this long (default 24 h). */
  readonly keepMs?: number;
  /** NATS API calls and dials (default 5 s). */
  readonly timeoutMs?: number;
  /** The stream's duplicate window, set when it is created (default 2 min): a request published twice within it is stored once. */
  readonly duplicateWindowMs?: number;
}

export const NATS_REQUEST_DEFAULTS = Object.freeze({
  stream: 'HOPGATE_REQUESTS',
  subjectPrefix: 'hopgate.requests',
  durable: 'hopgate-control',
  maxBytes: 64 * 1024,
  replyPrefixes: ['_INBOX.', 'hopgate.replies.'] as readonly string[],
  ackWaitMs: 30_000,
  staleMs: 60_000,
  retryDelayMs: 1000,
  keepMs: 24 * 3600_000,
  timeoutMs: 5000,
  duplicateWindowMs: 120_000,
});

const PRUNE_EVERY_MS = 600_000;
const FETCH_BATCH = 16;
const FETCH_EXPIRES_MS = 1000;
/** Header values and keys this long at most (NATS subjects are short; a key is a UUID or such). */
const MAX_KEY = 256;
const SUBJECT_TOKEN = /^[A-Za-z0-9_-]+$/;

/** applied: a change made and its answer kept; read: a GET; refused: a 4xx from the API; rejected: a bad message, not run. */
export type RequestOutcome = 'applied' | 'read' | 'refused' | 'replayed' | 'rejected' | 'retried' | 'in_doubt';

export class NatsRequestConsumer {
  private readonly o: Required<NatsRequestOptions>;
  private nc: NatsConnection | undefined;
  private closed = false;
  private running: Promise<void> | undefined;
  private lastPrune = 0;
  private maxAnswer = 1 << 20;

  constructor(
    private readonly ops: OperationTable,
    private readonly keys: JetStreamRequestKeys,
    private readonly dial: NatsDialOptions,
    o: NatsRequestOptions = {},
    private readonly metrics?: ControlMetrics,
    private readonly log?: Logger,
  ) {
    this.o = { ...NATS_REQUEST_DEFAULTS, ...o };
  }

  start(): void {
    const authenticator = natsAuthenticator(this.dial);
    this.running = (async () => {
      const nc = await dialUntilClosed(this.dial, authenticator, {
        name: 'hopgate-control-requests',
        timeoutMs: this.o.timeoutMs,
        closed: () => this.closed,
        log: this.log,
        downMessage: 'NATS not reachable; change messages wait in their stream, dialing again',
      });
      if (!nc) return;
      this.nc = nc;
      this.maxAnswer = nc.info?.max_payload ?? this.maxAnswer;
      await this.consumeUntilClosed(nc);
    })();
  }

  /**
   * Set up stream and consumer, then fetch small batches (each bounded by FETCH_EXPIRES_MS, so a
   * close waits at most that long) and take their messages one at a time, in stream order. After
   * a failure (NATS down, stream deleted), set up again.
   */
  private async consumeUntilClosed(nc: NatsConnection): Promise<void> {
    for (let failed = 0; !this.closed; ) {
      try {
        await this.ensure(nc);
        const consumer = await nc.jetstream({ timeout: this.o.timeoutMs }).consumers.get(this.o.stream, this.o.durable);
        failed = 0;
        while (!this.closed) {
          const batch = await consumer.fetch({ max_messages: FETCH_BATCH, expires: FETCH_EXPIRES_MS });
          for await (const m of batch) {
            // Closing: what this batch still brings goes back at once, to another replica or the next start.
            if (this.closed) m.nak();
            else await this.handle(m);
          }
        }
      } catch (err) {
        if (this.closed) return;
        if (failed++ === 0) this.log?.warn({ err: (err as Error).message }, 'change messages: consumer failed; setting it up again');
        await new Promise((r) => setTimeout(r, this.o.retryDelayMs));
      }
    }
  }

  private async ensure(nc: NatsConnection): Promise<void> {
    const jsm = await nc.jetstreamManager({ timeout: this.o.timeoutMs });
    await ensureStream(jsm, {
      name: this.o.stream,
      subjects: [`${this.o.subjectPrefix}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Workqueue,
      duplicate_window: nanos(this.o.duplicateWindowMs),
    });
    try {
      await jsm.consumers.info(this.o.stream, this.o.durable);
    } catch (err) {
      if (!/consumer not found/i.test((err as Error).message)) throw err;
      await jsm.consumers.add(this.o.stream, {
        durable_name: this.o.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(this.o.ackWaitMs),
        // One unacked message at a time across all replicas: requests apply in the order sent, and a
        // message given back (a restart, a nak) comes again before any later one.
        max_ack_pending: 1,
      });
    }
  }

  /** One message: never throws (a failure leaves it to be delivered again). */
  private async handle(m: JsMsg): Promise<void> {
    let outcome: RequestOutcome;
    try {
      outcome = await this.process(m);
    } catch (err) {
      // The database or NATS failed under us: the message comes back and its key decides.
      this.log?.warn({ seq: m.seq, err: (err as Error).message }, 'change message not processed; it will be delivered again');
      m.nak(this.o.retryDelayMs);
      outcome = 'retried';
    }
    this.metrics?.natsRequests.inc({ outcome });
    if (Date.now() - this.lastPrune > PRUNE_EVERY_MS) {
      this.lastPrune = Date.now();
      await this.keys.prune(Date.now() - this.o.keepMs).catch((err: Error) => this.log?.warn({ err: err.message }, 'pruning request keys failed'));
    }
  }

  private async process(m: JsMsg): Promise<RequestOutcome> {
    const operationId = m.subject.slice(this.o.subjectPrefix.length + 1);
    const key = m.headers?.get('Nats-Msg-Id') ?? '';
    const replyTo = m.headers?.get('Hopgate-Reply-To') || undefined;
    if (replyTo !== undefined && !this.replyAllowed(replyTo)) {
      // Answering there could write into our own streams (or $JS.API): not run, not answered.
      this.log?.warn({ seq: m.seq, operationId: operationId.slice(0, 64) }, 'change message refused: Hopgate-Reply-To outside the allowed reply subjects');
      m.term();
      return 'rejected';
    }
    const reject = (err: ApiError): RequestOutcome => {
      this.answer(replyTo, { requestId: key, operationId, status: err.status, body: err.body() });
      m.term();
      return 'rejected';
    };
    if (m.data.length > this.o.maxBytes) return reject(new ApiError(413, 'payload_too_large', `the message is ${m.data.length} bytes; at most ${this.o.maxBytes}`, 'body'));
    if (key === '' || key.length > MAX_KEY) return reject(new ApiError(400, 'invalid_request', `the Nats-Msg-Id header (the request's idempotency key, 1-${MAX_KEY} characters) is required`, 'Nats-Msg-Id'));
    const route = SUBJECT_TOKEN.test(operationId) ? this.ops.get(operationId) : undefined;
    if (!route) return reject(new ApiError(404, 'unknown_operation', `no operation '${operationId.slice(0, 64)}' (docs/request-schemas.json lists them)`));
    let json: unknown;
    try {
      json = m.data.length === 0 ? {} : JSON.parse(Buffer.from(m.data).toString('utf8'));
    } catch (err) {
      return reject(new ApiError(400, 'invalid_request', `the message is not JSON: ${(err as Error).message}`, 'body'));
    }
    const env = RequestEnvelope.safeParse(json);
    if (!env.success) return reject(new ApiError(400, 'invalid_request', `the message must be {params?, query?, body?}: ${env.error.issues[0]?.message ?? 'invalid'}`, 'message'));

    const authorization = m.headers?.get('Authorization') || undefined;
    const claim = await this.keys.claim(key, operationId);
    if (claim.state === 'done') {
      const { caller, ...stored } = JSON.parse(claim.answer) as AnswerT & { caller?: string };
      // The key applied another operation: this one was not run, and that one's answer is not its.
      if (stored.operationId !== operationId) return reject(new ApiError(409, 'key_reused', 'this Nats-Msg-Id was used for another operation; send this one with a new key', 'Nats-Msg-Id'));
      // A stored answer goes only to the caller that applied it, authenticated again (a known key is no credential).
      if (caller !== undefined) {
        const probe = this.ops.get(caller === 'operator' ? 'getRevision' : 'getMe');
        const auth = probe ? await this.ops.call(probe, {}, authorization) : { status: 500, body: null };
        if (auth.status !== 200) {
          this.answer(replyTo, { requestId: key, operationId, ...auth });
          m.ack();
          return 'refused';
        }
        if (callerOf(authorization) !== caller) return reject(new ApiError(409, 'key_reused', 'this Nats-Msg-Id was used by another caller; send this one with a new key', 'Nats-Msg-Id'));
      }
      this.answer(replyTo, { ...stored, replayed: true });
      m.ack();
      return 'replayed';
    }
    if (claim.state === 'pending') {
      if (Date.now() - claim.claimedAt < this.o.staleMs) {
        // Another run holds the key (another replica, or this one before a redelivery): wait for its answer.
        m.nak(this.o.retryDelayMs);
        return 'retried';
      }
      // Its run never finished (a replica died between claiming and answering): it may or may not have applied.
      const doubt: AnswerT = { requestId: key, operationId, status: 409, body: new ApiError(409, 'request_in_doubt', 'a control plane took this request and stopped before answering; check the state and send it again with a new Nats-Msg-Id').body() };
      if (await this.keys.settleStale(key, claim.claimedAt, JSON.stringify(doubt))) {
        this.answer(replyTo, doubt);
        m.ack();
        return 'in_doubt';
      }
      m.nak(this.o.retryDelayMs);
      return 'retried';
    }

    let rest: RestAnswer;
    try {
      rest = await this.ops.call(route, env.data, authorization);
    } catch (err) {
      await this.keys.release(key).catch(() => undefined);
      throw err;
    }
    if (rest.status === 503) {
      // Nothing was written (database unavailable, or the service not running here): run it again later.
      await this.keys.release(key).catch(() => undefined);
      m.nak(Math.max(this.o.retryDelayMs, (rest.retryAfter ?? 0) * 1000));
      return 'retried';
    }
    const answer: AnswerT = { requestId: key, operationId, ...rest };
    if (route.method === 'GET' || rest.status < 200 || (rest.status >= 400 && rest.status < 500)) {
      // Nothing changed (a read, or refused by the API: auth, validation, not found, conflict): keep
      // no key, so sending it again runs it again, and unauthenticated messages fill no table.
      await this.keys.release(key).catch(() => undefined);
      this.answer(replyTo, answer);
      m.ack();
      return rest.status >= 400 ? 'refused' : 'read';
    }
    const { stored, redacted } = storedAnswer(answer);
    try {
      await this.keys.finish(key, JSON.stringify({ ...stored, ...(redacted.length > 0 ? { redacted } : {}), caller: callerOf(authorization) }));
    } catch (err) {
      // Applied, but the answer could not be kept: the caller still gets it; a replay finds the claim stale.
      this.log?.warn({ key, err: (err as Error).message }, 'change message applied but its answer not stored');
    }
    this.answer(replyTo, answer);
    m.ack();
    return 'applied';
  }

  private replyAllowed(subject: string): boolean {
    if (subject.length > MAX_KEY || !/^[A-Za-z0-9_\-.]+$/.test(subject) || subject.split('.').some((t) => t === '')) return false;
    return this.o.replyPrefixes.some((p) => subject.startsWith(p) && subject.length > p.length);
  }

  /** Publish the answer (core NATS; the caller's inbox, or a stream on its reply subjects). */
  private answer(replyTo: string | undefined, a: AnswerT): void {
    if (replyTo === undefined || !this.nc) return;
    let data = JSON.stringify(a);
    if (Buffer.byteLength(data) > this.maxAnswer - 1024) {
      data = JSON.stringify({ ...a, status: 413, body: new ApiError(413, 'answer_too_large', `the answer is over the NATS payload limit (${this.maxAnswer} bytes); ask for less (limit, offset)`).body() });
    }
    const h = headers();
    h.set('Hopgate-Request-Id', a.requestId);
    h.set('Hopgate-Status', String(a.status));
    try {
      this.nc.publish(replyTo, data, { headers: h });
    } catch (err) {
      this.log?.warn({ err: (err as Error).message }, 'change message answer not published');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.running;
    await this.nc?.drain().catch(() => undefined);
  }
}

/**
 * Who a request's Authorization header names, kept with its stored answer: 'operator' for a bearer
 * token, 'customer:<login>' for Basic. Never a credential; a replay also authenticates the header.
 */
function callerOf(authorization: string | undefined): string {
  if (authorization === undefined) return 'none';
  if (/^bearer /i.test(authorization)) return 'operator';
  if (/^basic /i.test(authorization)) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    return `customer:${decoded.slice(0, Math.max(0, decoded.indexOf(':')))}`;
  }
  return 'other';
}

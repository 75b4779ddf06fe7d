/**
 * The ingress's end of the config stream: one long-lived GET answering NDJSON
 * (hello, snapshot, deltas, pings), reconnected with exponential backoff and
 * jitter (shared/backoff.ts) after any failure or after silence longer than three
 * heartbeats; acknowledgements go back as small POSTs.
 */
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage, type ClientRequest } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { backoffDelay } from '../../shared/backoff.js';
import { fitsTimer, MAX_TIMER_MS } from '../../shared/schema/timer-ms.js';
import type { AckBody, DeltaMessage, HelloMessage, LegitimacyPostAnswer, LegitimacyPostBody, LegitimacyStreamMessage, SnapshotMessage, StreamMessage } from '../../shared/control-protocol.js';

/** The least heartbeat taken from a hello: a shorter one would drop a stream at the first pause of a busy control plane. */
const MIN_HEARTBEAT_MS = 100;

export interface StreamClientOptions {
  readonly url: string;
  readonly token: string;
  /** The revision held now (sent on connect; informative). */
  readonly revision: () => number;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly connectTimeoutMs?: number;
  readonly onHello?: (m: HelloMessage) => void;
  /** A snapshot or a delta: apply it and return true when it is in force (false: reconnect for a snapshot). */
  readonly onConfig: (m: SnapshotMessage | DeltaMessage) => Promise<boolean> | boolean;
  /** The connection failed or ended (before or after the snapshot). */
  readonly onDisconnect?: (err: Error, attempt: number) => void;
  /** The control plane refused the token (401/403): keeps retrying, slowly. */
  readonly onRejected?: (status: number, body: string) => void;
  /** A legitimacy rule set or refresh (handled at once, not queued behind configuration changes). */
  readonly onLegitimacy?: (m: LegitimacyStreamMessage) => void;
}

export class ControlStreamClient {
  private req: ClientRequest | undefined;
  private res: IncomingMessage | undefined;
  private stopped = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private heartbeatMs = 15_000;
  /** Messages are applied one at a time, in order. */
  private queue: Promise<void> = Promise.resolve();
  connected = false;
  reconnects = 0;
  hello: HelloMessage | undefined;
  private readonly agent: HttpAgent;
  private readonly secure: boolean;

  constructor(private readonly o: StreamClientOptions) {
    this.secure = new URL(o.url).protocol === 'https:';
    this.agent = this.secure ? new HttpsAgent({ keepAlive: true, maxSockets: 4 }) : new HttpAgent({ keepAlive: true, maxSockets: 4 });
  }

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    const url = new URL('/v1/stream', this.o.url);
    const rev = this.o.revision();
    if (rev >= 0) url.searchParams.set('revision', String(rev));
    const request = this.secure ? httpsRequest : httpRequest;
    let failed = false;
    const fail = (err: Error): void => {
      if (failed) return;
      failed = true;
      this.connected = false;
      clearTimeout(this.watchdog);
      req.destroy();
      this.res?.destroy();
      this.res = undefined;
      if (this.stopped) return;
      this.o.onDisconnect?.(err, this.attempt);
      this.scheduleRetry();
    };
    const req = request(url, { method: 'GET', headers: { authorization: `Bearer ${this.o.token}`, accept: 'application/x-ndjson' }, agent: false, timeout: this.o.connectTimeoutMs ?? 5000 });
    this.req = req;
    req.on('timeout', () => fail(new Error('timed out')));
    req.on('error', fail);
    req.on('response', (res) => {
      req.setTimeout(0);
      this.res = res;
      if (res.statusCode !== 200) {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c.slice(0, 2000)));
        res.on('end', () => {
          if (res.statusCode === 401 || res.statusCode === 403) {
            this.o.onRejected?.(res.statusCode, body);
            this.attempt = Math.max(this.attempt, 6); // no point hammering with a wrong token
          }
          fail(new Error(`control plane answered ${res.statusCode}: ${body.slice(0, 200)}`));
        });
        return;
      }
      this.connected = true;
      this.armWatchdog(fail);
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        this.armWatchdog(fail);
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim() === '') continue;
          let msg: StreamMessage;
          try {
            msg = JSON.parse(line) as StreamMessage;
          } catch {
            fail(new Error('unreadable line on the config stream'));
            return;
          }
          this.handle(msg, fail);
        }
      });
      res.on('end', () => fail(new Error('config stream ended')));
      res.on('error', fail);
    });
    req.end();
  }

  private handle(msg: StreamMessage, fail: (err: Error) => void): void {
    switch (msg.type) {
      case 'hello':
        this.hello = msg;
        // Three heartbeats must fit a timer (Node fires a longer or non-numeric delay at once: a live stream
        // torn down and redialled over and over); a number that does not keeps this side's own.
        if (fitsTimer(msg.heartbeatMs, MIN_HEARTBEAT_MS, Math.floor(MAX_TIMER_MS / 3))) this.heartbeatMs = msg.heartbeatMs;
        this.o.onHello?.(msg);
        return;
      case 'ping':
        return;
      case 'legitimacy.rules':
      case 'legitimacy.refresh':
        this.o.onLegitimacy?.(msg);
        return;
      case 'snapshot':
      case 'delta':
        this.queue = this.queue.then(async () => {
          try {
            const ok = await this.o.onConfig(msg);
            if (ok) {
              if (msg.type === 'snapshot') {
                this.attempt = 0; // a good connection resets the backoff
                this.reconnects++;
              }
            } else fail(new Error(`revision ${msg.revision} could not be applied; reconnecting for a snapshot`));
          } catch (err) {
            fail(err as Error);
          }
        });
        return;
    }
  }

  private armWatchdog(fail: (err: Error) => void): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => fail(new Error(`config stream silent for ${3 * this.heartbeatMs} ms`)), 3 * this.heartbeatMs);
    this.watchdog.unref();
  }

  /** Exponential backoff (shared/backoff.ts), jittered down by up to half: d/2…d, d = min(max, base·2^attempt). */
  private scheduleRetry(): void {
    const delay = backoffDelay(this.attempt, { baseMs: this.o.minBackoffMs ?? 250, maxMs: this.o.maxBackoffMs ?? 30_000, jitter: 0.5 });
    this.attempt++;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.retryTimer.unref();
  }

  /** Tell the control plane a revision is in force here. Failures are retried by the next ack. */
  async ack(body: AckBody): Promise<boolean> {
    const answer = await this.post('/v1/stream/ack', body);
    return answer?.status === 204;
  }

  /** Legitimacy reports and rule ACKs; the answer lists the reports the control plane has (undefined on failure). */
  async postLegitimacy(body: LegitimacyPostBody): Promise<LegitimacyPostAnswer | undefined> {
    const answer = await this.post('/v1/stream/legitimacy', body);
    if (answer?.status !== 200) return undefined;
    try {
      return JSON.parse(answer.text) as LegitimacyPostAnswer;
    } catch {
      return undefined;
    }
  }

  /** One authenticated JSON POST on the stream's agent; undefined when it could not complete. */
  private post(path: string, body: unknown): Promise<{ status: number; text: string } | undefined> {
    const url = new URL(path, this.o.url);
    const data = JSON.stringify(body);
    const request = this.secure ? httpsRequest : httpRequest;
    return new Promise((resolve) => {
      const req = request(
        url,
        { method: 'POST', agent: this.agent, timeout: 5000, headers: { authorization: `Bearer ${this.o.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          res.on('error', () => resolve(undefined));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(undefined));
      req.end(data);
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.watchdog);
    this.req?.destroy();
    this.res?.destroy();
    this.agent.destroy();
  }
}

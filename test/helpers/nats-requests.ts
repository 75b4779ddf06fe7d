/**
 * A client of the control plane's change messages (docs/EVENTS.md): publishes
 * a request to JetStream with its Nats-Msg-Id, Authorization and
 * Hopgate-Reply-To headers, and collects every answer on its own reply subject.
 */
import { randomUUID } from 'node:crypto';
import { headers, type NatsConnection, type PubAck } from 'nats';
import { sleep } from './eventually.js';

export interface Answer {
  requestId: string;
  operationId: string;
  status: number;
  body: any;
  replayed?: boolean;
  redacted?: string[];
}

export interface SendOptions {
  /** The Nats-Msg-Id; a fresh UUID by default, '' for none. */
  id?: string;
  authorization?: string;
  /** Default: this requester's own subject. */
  replyTo?: string | null;
  /** The message body as bytes (default: JSON of the message). */
  raw?: Uint8Array | string;
}

export class Requester {
  readonly replyTo = `hopgate.replies.test-${randomUUID()}`;
  /** Every answer received, in order. */
  readonly answers: Answer[] = [];
  /** Called on each answer as it arrives (a test that must act at once, e.g. stop a control plane mid-stream). */
  onAnswer: ((a: Answer) => void) | undefined;

  /** send()s waiting for an answer, told of each as it arrives (no polling: the bench times them). */
  private readonly waiting = new Set<(a: Answer) => void>();

  private constructor(private readonly nc: NatsConnection) {}

  static async open(nc: NatsConnection): Promise<Requester> {
    const r = new Requester(nc);
    const sub = nc.subscribe(r.replyTo);
    (async () => {
      for await (const m of sub) {
        const a = m.json<Answer>();
        r.answers.push(a);
        r.onAnswer?.(a);
        for (const w of r.waiting) w(a);
      }
    })().catch(() => undefined); // the connection closed under it: the test's own wait says what is missing
    await nc.flush();
    return r;
  }

  /** Publish one request; resolves with JetStream's PubAck (not our answer). */
  async publish(operationId: string, message: unknown, o: SendOptions = {}): Promise<{ id: string; ack: PubAck }> {
    const id = o.id ?? randomUUID();
    const h = headers();
    if (id !== '') h.set('Nats-Msg-Id', id);
    if (o.authorization !== undefined) h.set('Authorization', o.authorization);
    if (o.replyTo !== null) h.set('Hopgate-Reply-To', o.replyTo ?? this.replyTo);
    const data = o.raw ?? JSON.stringify(message);
    const ack = await this.nc.jetstream().publish(`hopgate.requests.${operationId}`, data, { headers: h, ...(id !== '' ? { msgID: id } : {}) });
    return { id, ack };
  }

  /**
   * Publish request `id` again until JetStream stores it (past the stream's duplicate window,
   * which drops a key it has seen: PubAck duplicate). Paced every 50 ms, at most `timeoutMs`.
   */
  async resendPastWindow(operationId: string, message: unknown, o: SendOptions & { id: string }, timeoutMs = 10_000): Promise<PubAck> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { ack } = await this.publish(operationId, message, o);
      if (!ack.duplicate || Date.now() > deadline) return ack;
      await sleep(50);
    }
  }

  /** The answers to request `id` so far. */
  answersTo(id: string): Answer[] {
    return this.answers.filter((a) => a.requestId === id);
  }

  /** Publish and wait for the (first new) answer, at most `timeoutMs`. */
  async send(operationId: string, message: unknown, o: SendOptions = {}, timeoutMs = 20_000): Promise<Answer> {
    const before = o.id !== undefined ? this.answersTo(o.id).length : 0;
    const { id } = await this.publish(operationId, message, o);
    const got = this.answersTo(id)[before];
    if (got) return got;
    return new Promise((resolve, reject) => {
      const done = (): void => (this.waiting.delete(check), clearTimeout(timer));
      const check = (a: Answer): void => {
        if (a.requestId !== id || this.answersTo(id).length <= before) return;
        done();
        resolve(this.answersTo(id)[before]!);
      };
      const timer = setTimeout(() => (done(), reject(new Error(`no answer to ${operationId} ${id} within ${timeoutMs} ms`))), timeoutMs);
      this.waiting.add(check);
    });
  }
}

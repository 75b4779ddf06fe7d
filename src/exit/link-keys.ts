/**
 * An exit's link keys kept current without a restart (docs/EXITS.md "Link keys"):
 * the ingresses' fingerprints it pins, read from the control plane with the
 * exit's link token (GET /v1/link-pins), and its own identity, read again from
 * its state dir after `hopgate link-key promote`.
 *
 * A failed read keeps the pins in force (the control plane being away must not
 * lock every ingress out); an empty answer is taken as it is (no ingress registered).
 */
import type { Logger } from '../shared/log.js';
import { FINGERPRINT_PATTERN, type LinkIdentitySource } from '../link/identity.js';
import type { ExitLinkListener } from './link-listener.js';

export interface LinkKeysOptions {
  readonly listener: ExitLinkListener;
  readonly identity: LinkIdentitySource;
  /** The control plane to read pins from; without it the pins given at start stay. */
  readonly control?: { readonly url: string; readonly token: string };
  /** How often pins and the identity file are looked at (default 10 s). */
  readonly everyMs?: number;
  readonly log: Logger;
}

const PIN_READ_TIMEOUT_MS = 5000;
/** An answer larger than this is not a pin list (bounded memory on a hostile or broken server). */
const MAX_ANSWER_BYTES = 1 << 20;

export class ExitLinkKeys {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Pin reads that failed (for tests and the log). */
  failures = 0;

  constructor(private readonly o: LinkKeysOptions) {}

  start(): this {
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), this.o.everyMs ?? 10_000);
    this.timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Look now: the identity file, then the control plane's pins (one read at a time). */
  refresh(): Promise<void> {
    this.running ??= this.once().finally(() => (this.running = undefined));
    return this.running;
  }

  private async once(): Promise<void> {
    try {
      this.o.listener.setIdentity(this.o.identity.current());
    } catch (err) {
      this.o.log.warn({ err: String(err) }, 'link identity unreadable; the one in force stays');
    }
    if (!this.o.control) return;
    try {
      const pins = await readPins(this.o.control.url, this.o.control.token);
      const before = JSON.stringify(this.o.listener.pins);
      if (JSON.stringify(pins) !== before) {
        this.o.listener.setPins(pins);
        this.o.log.info({ pins: pins.length }, 'ingress link pins changed');
      }
    } catch (err) {
      this.failures++;
      this.o.log.warn({ err: String((err as Error).message ?? err) }, 'ingress link pins not read; the pins in force stay');
    }
  }
}

/** GET /v1/link-pins: the fingerprints, checked in shape. */
export async function readPins(url: string, token: string): Promise<string[]> {
  const res = await fetch(new URL('/v1/link-pins', url), { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(PIN_READ_TIMEOUT_MS) });
  const text = await boundedText(res, MAX_ANSWER_BYTES);
  if (res.status !== 200) throw new Error(`GET /v1/link-pins: HTTP ${res.status} ${text.slice(0, 200)}`);
  const body = JSON.parse(text) as { fingerprints?: unknown };
  const fps = body.fingerprints;
  if (!Array.isArray(fps) || !fps.every((f) => typeof f === 'string' && FINGERPRINT_PATTERN.test(f))) {
    throw new Error('GET /v1/link-pins: not a list of SHA-256 fingerprints');
  }
  return fps as string[];
}

/** The body as text, refused (and the read cancelled) once past `max` bytes: res.text() would hold any size. */
async function boundedText(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`GET /v1/link-pins: answer over ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

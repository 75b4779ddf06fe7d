/**
 * A live case as data, so a finding can be minimized and stored: what the
 * client sends (in which pieces, with which pauses, how it closes) and how
 * the target behaves. Text is latin1 (one char per byte) with placeholders
 * filled in at run time: {ECHO} {BAD} (ports as text), {ECHO16} {BAD16}
 * (ports as 2 bytes), {AUTH} (Basic credentials), {USER} {PASS}.
 */
import { connect, type Server, type Socket } from 'node:net';

export type ClientStep = { w: string } | { wait: number } | { end: true } | { reset: true };
export type TargetStep = { readHead: true } | { w: string } | { wait: number } | { end: true } | { reset: true } | { hang: true };

export interface LiveScript {
  /** The generator that built it. */
  readonly kind: string;
  readonly client: ClientStep[];
  /** How the misbehaving target answers each connection during this case. */
  readonly target?: TargetStep[];
}

export interface Placeholders {
  readonly echoPort: number;
  readonly badPort: number;
  readonly user: string;
  readonly pass: string;
}

function port16(p: number): string {
  return String.fromCharCode(p >> 8, p & 0xff);
}

export function fill(text: string, p: Placeholders): Buffer {
  const s = text
    .replaceAll('{ECHO16}', port16(p.echoPort))
    .replaceAll('{BAD16}', port16(p.badPort))
    .replaceAll('{ECHO}', String(p.echoPort))
    .replaceAll('{BAD}', String(p.badPort))
    .replaceAll('{AUTH}', Buffer.from(`${p.user}:${p.pass}`).toString('base64'))
    .replaceAll('{USER}', p.user)
    .replaceAll('{PASS}', p.pass);
  return Buffer.from(s, 'latin1');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Longest a case may hold its connection after its last step (then it is destroyed). */
const LINGER_MS = 250;
const MAX_WAIT_MS = 400;

/** Run the client side of a script against the ingress; resolves when its socket is gone. Never rejects. */
export async function runClient(script: LiveScript, ingressPort: number, p: Placeholders): Promise<{ received: number }> {
  const s = connect({ port: ingressPort, host: '127.0.0.1', allowHalfOpen: true });
  let received = 0;
  let gone = false;
  s.on('data', (d: Buffer) => (received += d.length));
  s.on('error', () => undefined);
  const closed = new Promise<void>((r) => s.once('close', () => ((gone = true), r())));
  const connected = await Promise.race([new Promise<boolean>((r) => s.once('connect', () => r(true))), closed.then(() => false)]);
  if (!connected) return { received };
  for (const step of script.client) {
    if (gone) break;
    if ('w' in step) s.write(fill(step.w, p));
    else if ('wait' in step) await Promise.race([sleep(Math.min(step.wait, MAX_WAIT_MS)), closed]);
    else if ('end' in step) s.end();
    else if ('reset' in step) s.resetAndDestroy();
  }
  await Promise.race([closed, sleep(LINGER_MS)]);
  s.destroy();
  await closed;
  return { received };
}

/** The misbehaving target: each connection plays the current case's target steps. */
export class BadTarget {
  private steps: TargetStep[] = [{ readHead: true }, { w: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' }, { end: true }];
  /**
   * False from a case's end to the next case's start. A connection the exit opens after its case
   * ended (a loaded host) is cut at once: played, a hanging target would hold the exit's session
   * past every later reset (the exit cannot see the ingress leave after a FIN; docs/RELIABILITY.md).
   */
  private live = true;
  private readonly sockets = new Set<Socket>();

  constructor(readonly server: Server) {
    server.on('connection', (s) => {
      if (!this.live) return void s.destroy();
      this.play(s, this.steps).catch(() => s.destroy());
    });
  }

  /** A case starts: its target behaviour (else the last case's), and connections are played again. */
  begin(steps: TargetStep[] | undefined): void {
    if (steps) this.steps = steps;
    this.live = true;
  }

  private async play(s: Socket, steps: readonly TargetStep[]): Promise<void> {
    this.sockets.add(s);
    s.on('error', () => undefined);
    let gone = false;
    s.once('close', () => ((gone = true), this.sockets.delete(s)));
    for (const step of steps) {
      if (gone) return;
      if ('readHead' in step) await readHead(s);
      else if ('w' in step) s.write(Buffer.from(step.w, 'latin1'));
      else if ('wait' in step) await sleep(Math.min(step.wait, MAX_WAIT_MS));
      else if ('end' in step) s.end();
      else if ('reset' in step) s.resetAndDestroy();
      else if ('hang' in step) return; // the case's end destroys it
    }
  }

  /** Cut every connection of the case that just ended, and any that arrives before the next case. */
  reset(): void {
    this.live = false;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}

/** Wait for a request head (or 300 ms, or the close), whichever first. */
function readHead(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    let buf = '';
    const done = (): void => {
      clearTimeout(t);
      s.off('data', onData);
      resolve();
    };
    const onData = (d: Buffer): void => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n\r\n') || buf.length > 64 * 1024) done();
    };
    const t = setTimeout(done, 300);
    s.on('data', onData);
    s.once('close', done);
  });
}

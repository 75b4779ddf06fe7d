/**
 * A worker's end of the primary's tunnel port (tunnel-dispatch.ts): raw TCP
 * sockets arrive over IPC; TLS terminates here, so the handshakes' crypto
 * stays spread over the workers. The worker reports its load to the primary
 * when it changes (looked at again every 500 ms, in case).
 */
import type { Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext, type SecureContextOptions } from 'node:tls';
import { unmapIPv4 } from '../../shared/net-addr.js';
import { MAX_REPORTED_EXITS, type TunnelConnMsg, type TunnelHelloMsg, type TunnelKeysMsg, type TunnelLoadMsg, type TunnelReleaseMsg } from './tunnel-dispatch.js';

/** The primary's messages to the intake. */
export type IntakeMsg = TunnelConnMsg | TunnelKeysMsg | TunnelHelloMsg | TunnelReleaseMsg;

/**
 * How the intake talks to the primary: node:cluster IPC, checked against the one message
 * list (processes/worker-channel.ts), so what reaches the intake is well formed.
 */
export interface IntakeLink {
  /** False when the channel is closed (the primary is gone): nothing was sent. */
  send(msg: TunnelLoadMsg): boolean;
  /** The primary's messages for the intake; a connection (hopgate:reverse:conn) comes with its socket. Returns a detach. */
  onMessage(handler: (msg: IntakeMsg, socket: Socket | undefined) => void): () => void;
}

/** What the registry tells the intake and does for it (registry.ts). */
export interface IntakePool {
  /** Work connections registering or idle, less requests waiting for one. */
  load(): number;
  /** Per reverse exit: [id, idle, waiting]. */
  exitCounts(): Array<[string, number, number]>;
  /** Close one idle work connection of the exit if at least `min` are idle. */
  releaseIdle(exitId: string, min: number): boolean;
}

const REPORT_EVERY_MS = 500;
const MAX_HANDSHAKES = 1024;
const MAX_HANDSHAKES_PER_SOURCE = 64;

export class TunnelIntake {
  private ctx: SecureContext;
  private tls: SecureContextOptions;
  /** Shared by every worker (from the primary), so a session resumes on any of them. */
  private ticketKeys: Buffer | undefined;
  private handshaking = 0;
  private readonly bySource = new Map<string, number>();
  private received = 0;
  private closed = false;
  private queued = false;
  private last = '';
  private lastLoad = 0;
  private readonly timer: NodeJS.Timeout;
  /** Off the link: a closed intake must not take (destroy) the sockets meant for the next one. */
  private readonly detach: () => void;

  /**
   * `onSecure`: a connection whose TLS handshake completed, with its source address.
   * `pool`: the registry (registry.ts): its load, and each exit's idle and waiting counts.
   * `link`: the channel to the primary; close() detaches from it (a reload that failed after making
   * this intake makes another, on the same channel).
   */
  constructor(
    tls: SecureContextOptions,
    private readonly handshakeTimeoutMs: () => number,
    private readonly onSecure: (socket: TLSSocket, source: string) => void,
    private readonly pool: IntakePool,
    private readonly link: IntakeLink,
  ) {
    this.tls = tls;
    this.ctx = this.context();
    this.detach = link.onMessage(this.onMessage);
    this.timer = setInterval(() => this.report(), REPORT_EVERY_MS);
    this.timer.unref();
    this.report(); // the primary hands nothing to a worker before its first report
  }

  /** New connections use this certificate (a reload changed it). */
  setSecureContext(tls: SecureContextOptions): void {
    this.tls = tls;
    this.ctx = this.context();
  }

  private context(): SecureContext {
    // The session id context: OpenSSL refuses to resume a session of a server that asks for client certificates without one (tls.Server sets its own).
    return createSecureContext({ ...this.tls, minVersion: 'TLSv1.2', sessionIdContext: 'hopgate-reverse-tunnel', ...(this.ticketKeys ? { ticketKeys: this.ticketKeys } : {}) });
  }

  /**
   * The load may have changed. A drop is reported at once: a taken work connection is
   * about to carry a request, on which the exit dials its refill, and the primary must
   * know by then that this worker is the one short of it. A rise can wait for the tick's end.
   */
  changed(): void {
    if (this.currentLoad() < this.lastLoad) return this.report();
    if (this.queued) return;
    this.queued = true;
    process.nextTick(() => {
      this.queued = false;
      this.report();
    });
  }

  /**
   * Work connections registering or idle. Handshakes in progress are not counted: until a
   * peer has spoken TLS it may be a silent scanner, and a flood of those made a worker look
   * full while it had no work connection left (its requests then failed).
   */
  private currentLoad(): number {
    return this.closed ? 0 : this.pool.load();
  }

  private report(): void {
    // The primary looks at this many exits of a report (the message list's bound).
    const exits = this.closed ? [] : this.pool.exitCounts().slice(0, MAX_REPORTED_EXITS);
    const msg: TunnelLoadMsg = { type: 'hopgate:reverse:load', load: this.currentLoad(), received: this.received, open: !this.closed, exits };
    const text = `${msg.load}/${msg.received}/${msg.open}/${JSON.stringify(exits)}`;
    if (text === this.last || !this.link.send(msg)) return;
    this.last = text;
    this.lastLoad = msg.load;
  }

  private readonly onMessage = (m: IntakeMsg, raw: Socket | undefined): void => {
    if (m.type === 'hopgate:reverse:release') {
      if (!this.closed) this.pool.releaseIdle(m.exit, m.min);
      return;
    }
    if (m.type === 'hopgate:reverse:hello') {
      this.last = ''; // the tunnel port (re)opened: be seated even if nothing changed here
      return this.report();
    }
    if (m.type === 'hopgate:reverse:keys') {
      this.ticketKeys = Buffer.from(m.ticketKeys, 'base64');
      this.ctx = this.context();
      return;
    }
    if (!raw) return; // the channel hands a connection over only with its socket
    this.received++;
    raw.on('error', () => undefined);
    this.take(raw); // not once closed: close() detached this intake from the channel
  };

  private take(raw: Socket): void {
    const source = unmapIPv4(raw.remoteAddress ?? '');
    // Each open handshake holds a socket and a TLS state: beyond these, new ones are dropped —
    // and one source that connects without speaking TLS cannot take every place from real exits.
    const fromSource = this.bySource.get(source) ?? 0;
    if (this.handshaking >= MAX_HANDSHAKES || fromSource >= MAX_HANDSHAKES_PER_SOURCE) return void raw.destroy();
    this.bySource.set(source, fromSource + 1);
    raw.setNoDelay(true);
    raw.allowHalfOpen = true; // half-close passes through a tunnel (the TLS socket takes it from here)
    // A client certificate is asked for, never required: exits with a pinned link identity present one (registry.ts checks it).
    const socket = new TLSSocket(raw, { isServer: true, secureContext: this.ctx, requestCert: true, rejectUnauthorized: false });
    this.handshaking++;
    this.changed();
    let done = false;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      clearTimeout(deadline);
      this.handshaking--;
      const left = (this.bySource.get(source) ?? 1) - 1;
      if (left > 0) this.bySource.set(source, left);
      else this.bySource.delete(source);
      this.changed();
      return true;
    };
    // tls.Server's handshakeTimeout does not apply to a TLS socket made by hand.
    const deadline = setTimeout(() => finish() && socket.destroy(), this.handshakeTimeoutMs());
    // A scanner or a wrong CA: nothing to do (tlsClientError on the single-process server).
    socket.on('error', () => finish() && socket.destroy());
    socket.once('close', finish);
    socket.once('secure', () => {
      if (done) return;
      this.onSecure(socket, source); // registering from here on: counted by the registry before it leaves the handshakes
      finish();
    });
  }

  /** Take no more connections; tell the primary, and drop any still on their way. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.detach();
    this.report();
  }
}

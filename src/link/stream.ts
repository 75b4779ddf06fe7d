/**
 * One tunnel inside a link: a Duplex whose writes become DATA frames (sent
 * only as far as the peer's credit allows) and whose reads return credit to
 * the peer as the consumer takes bytes. Buffering per direction is bounded
 * by the window: the peer may never have more than `window` bytes
 * unacknowledged, and we acknowledge only what our consumer has read.
 */
import { Duplex } from 'node:stream';
import { datagramFrame } from '../protocol/link/codec.js';
import type { TargetAddress } from '../protocol/address.js';
import { LinkError } from './errors.js';

/** Datagrams a link carried, dropped on a full queue, or refused (src/link/session.ts keeps one per link). */
export interface DatagramCounts {
  sent: number;
  received: number;
  /** Queued beyond DATAGRAM_QUEUE_BYTES (the link's connection is behind), too large, or after the stream ended: lost, as UDP may be. */
  dropped: number;
}

/** What a stream needs from its session (kept narrow so the two files do not know each other's insides). */
export interface StreamHost {
  /** This stream has something to send (data with credit, or its FIN): give it a turn. */
  ready(s: LinkStream): void;
  sendWindow(id: number, increment: number): void;
  sendReset(id: number, code: string, message: string): void;
  /** OPEN_OK: the answer to the peer's open (status 'ok' or the exact result code). */
  answer(id: number, props: Readonly<Record<string, string | number>>): void;
  /** The stream is finished (both FINs, a reset or destroyed): forget it. */
  forget(s: LinkStream): void;
  readonly datagrams: DatagramCounts;
}

/** Bytes for the socket, in order: a frame header or a whole control frame, or (`payload`) DATA payload after its header. */
export type FrameSink = (bytes: Buffer, payload?: boolean) => void;

type State = 'opening' | 'accepting' | 'open' | 'closed';

/**
 * Bytes a writer may queue on a stream before write() returns false. Larger than one 64 KiB socket
 * read, so a relay reads its target several times per turn of the event loop instead of pausing and
 * resuming it (two epoll_ctl calls and a loop turn) for every chunk; the peer's window still decides
 * what crosses the link.
 */
export const DEFAULT_SEND_BUFFER = 256 * 1024;

/**
 * Datagram bytes (frames) a UDP stream may have waiting for the link's connection: enough for one
 * largest datagram and a burst of small ones. Past it datagrams are dropped and counted, never
 * buffered further nor waited for: UDP must not hold up the link, nor grow memory.
 */
export const DATAGRAM_QUEUE_BYTES = 128 * 1024;

export class LinkStream extends Duplex {
  readonly id: number;
  private readonly host: StreamHost;
  private state: State;
  /** Bytes the peer may still send us. */
  private recvAllowed: number;
  private recvWindow: number;
  /** The receive window may grow to this while our reader keeps up (1: fixed). */
  private readonly maxRecvWindow: number;
  private delivered = 0;
  private credited = 0;
  /** Bytes we may still send the peer. */
  private credit = 0;
  private queue: Buffer[] = [];
  private queued = 0;
  private writeCb: ((err?: Error | null) => void) | undefined;
  /** Bytes of the chunks handed to _writev whose callback is pending: writableLength still counts them, sent or not. */
  private batchBytes = 0;
  private finalCb: ((err?: Error | null) => void) | undefined;
  private finSent = false;
  private finReceived = false;
  private forgotten = false;
  /** For a stream the peer opened: the window it announced, ours to use once we accept. */
  private readonly offeredWindow: number;
  /** The peer's local address for this tunnel (the exit's connection to the target), as SOCKS reports a bind address. */
  localAddress: string | undefined;
  localPort: number | undefined;
  readonly remoteAddress: string | undefined = undefined;
  readonly remotePort: number | undefined = undefined;
  private idleMs = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastActive = 0;
  /** A UDP stream (opened with kind=udp): DATAGRAM frames may come on it. */
  datagramsAllowed = false;
  /** DATAGRAM frames waiting for a turn (a UDP stream), outside the window: bounded by DATAGRAM_QUEUE_BYTES. */
  private datagrams: Buffer[] = [];
  private datagramBytes = 0;

  constructor(host: StreamHost, id: number, recvWindow: number, peerWindow?: number, maxRecvWindow = recvWindow, sendBuffer = DEFAULT_SEND_BUFFER) {
    super({ allowHalfOpen: true, writableHighWaterMark: sendBuffer });
    this.host = host;
    this.id = id;
    this.recvWindow = recvWindow;
    this.maxRecvWindow = Math.max(recvWindow, maxRecvWindow);
    this.recvAllowed = recvWindow;
    this.state = peerWindow === undefined ? 'opening' : 'accepting';
    this.offeredWindow = peerWindow ?? 0;
  }

  /** Answer the peer's open: connected (`bind`: the exit's local address, as SOCKS reports it). */
  accept(bind = ''): void {
    if (this.state !== 'accepting') return;
    this.host.answer(this.id, { status: 'ok', bind, window: this.recvWindow });
    this.opened(this.offeredWindow);
  }

  /** Answer the peer's open with a failure: `result` is the exact result code the opener sees. */
  refuse(result: string, message = ''): void {
    if (this.state !== 'accepting') return;
    this.host.answer(this.id, { status: result, message: message.slice(0, 500) });
    this.state = 'closed';
    this.forgotten = true;
    this.host.forget(this);
    this.destroy();
  }

  /** The peer's window is known: the stream may send. `bind`: the peer's 'HOST:PORT' for the tunnel, when it said. */
  opened(peerWindow: number, bind?: string): void {
    if (this.state === 'closed') return;
    this.state = 'open';
    const colon = bind?.lastIndexOf(':') ?? -1;
    if (bind && colon > 0) {
      const port = Number(bind.slice(colon + 1));
      this.localAddress = bind.slice(0, colon).replace(/^\[|\]$/g, '');
      this.localPort = Number.isInteger(port) && port >= 0 && port <= 65535 ? port : 0;
    }
    this.credit = peerWindow;
    if (this.wantsTurn()) this.host.ready(this);
  }

  /** This stream's receive window now (it grows while the reader keeps up). */
  get receiveWindow(): number {
    return this.recvWindow;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Bytes buffered in this stream right now, both directions (for the memory bound). */
  get bufferedBytes(): number {
    // writableLength counts the chunks handed to _writev until their callback, the sent ones too: ours are `queued`.
    return this.readableLength + this.writableLength - this.batchBytes + this.queued + this.datagramBytes;
  }

  /**
   * Send one datagram (a UDP stream: its target, or the source of a reply). Never waits: false
   * when it was dropped (the queue is full, it is too large, or the stream is not an open UDP stream).
   */
  sendDatagram(address: { host: string; port: number }, data: Buffer): boolean {
    let frame: Buffer | undefined;
    // writableEnded covers the FIN too: _final (finalCb) and the FIN (finSent) come only after end().
    if (this.datagramsAllowed && this.state === 'open' && !this.writableEnded) {
      try {
        frame = datagramFrame(this.id, address, data);
      } catch {
        frame = undefined; // too large for a frame: lost like any datagram that cannot be sent
      }
    }
    if (!frame || this.datagramBytes + frame.length > DATAGRAM_QUEUE_BYTES) {
      this.host.datagrams.dropped++;
      return false;
    }
    if (this.idleMs > 0) this.lastActive = Date.now();
    this.datagrams.push(frame);
    this.datagramBytes += frame.length;
    if (this.datagrams.length === 1) this.host.ready(this);
    return true;
  }

  // --- from the peer -------------------------------------------------------

  /** DATA arrived; returns an error message if it breaks the protocol (the session then fails the link). */
  onData(data: Buffer): string | undefined {
    if (this.finReceived) return `link: DATA on stream ${this.id} after its FIN`;
    if (data.length > this.recvAllowed) return `link: stream ${this.id} window overflow (${data.length} bytes, ${this.recvAllowed} allowed)`;
    this.recvAllowed -= data.length;
    this.delivered += data.length;
    if (this.idleMs > 0) this.lastActive = Date.now();
    this.push(data);
    this.returnCredit();
    return undefined;
  }

  /** A DATAGRAM arrived: handed on at once as a 'datagram' event (address, data), nothing buffered. */
  onDatagram(address: TargetAddress, data: Buffer): string | undefined {
    if (this.finReceived) return `link: DATAGRAM on stream ${this.id} after its FIN`;
    this.host.datagrams.received++;
    if (this.idleMs > 0) this.lastActive = Date.now();
    this.emit('datagram', address, data);
    return undefined;
  }

  onWindow(increment: number): string | undefined {
    if (this.credit + increment > 0x7fffffff) return `link: stream ${this.id} window overflow (credit past 2^31-1)`;
    const was = this.credit;
    this.credit += increment;
    if (was === 0 && this.wantsTurn()) this.host.ready(this);
    return undefined;
  }

  onFin(): void {
    if (this.finReceived) return;
    this.finReceived = true;
    this.push(null);
    this.maybeForget();
  }

  onReset(result: string, message: string): void {
    this.finSent = this.finReceived = true; // nothing more to say to the peer
    this.destroyHeard(new LinkError('STREAM_RESET', `stream ${this.id} reset by the peer: ${result}${message ? ` (${message})` : ''}`, result));
  }

  /** The link failed under the stream (no error: a stream the app never got, whose open promise carries the error). */
  fail(err: LinkError | undefined): void {
    this.finSent = this.finReceived = true;
    this.destroyHeard(err);
  }

  /**
   * Destroyed with `err` only when someone listens for it: a stream handed out and not yet relayed
   * (an exit still connecting its target) would otherwise throw it unheard and end the process.
   * Its user finds it destroyed ('close') when it comes back.
   */
  private destroyHeard(err: LinkError | undefined): void {
    this.destroy(err && this.listenerCount('error') > 0 ? err : undefined);
  }

  // --- Duplex --------------------------------------------------------------

  override _read(): void {
    this.returnCredit();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this._writev([{ chunk }], cb);
  }

  // All the chunks written meanwhile at once: a DATA frame may then span them (full-size frames, see sendSome).
  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    if (this.idleMs > 0) this.lastActive = Date.now();
    let n = 0;
    for (const { chunk } of chunks) {
      this.queue.push(chunk);
      n += chunk.length;
    }
    this.queued += n;
    this.batchBytes = n;
    this.writeCb = cb;
    if (this.wantsTurn()) this.host.ready(this);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.finalCb = cb;
    if (this.wantsTurn()) this.host.ready(this);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.forgotten && !(this.finSent && this.finReceived) && this.state !== 'closed') {
      this.host.sendReset(this.id, 'CANCEL', err ? err.message.slice(0, 200) : 'closed by its side');
    }
    this.state = 'closed';
    this.queue = [];
    this.queued = 0;
    this.batchBytes = 0;
    this.datagrams = [];
    this.datagramBytes = 0;
    clearTimeout(this.idleTimer);
    this.forgotten = true;
    this.host.forget(this);
    cb(err);
  }

  // --- the parts of net.Socket a relay uses (src/ingress/relay), so a stream can stand in for a dialled socket ---

  /** Emit 'timeout' after `ms` without a byte either way (0: off), as net.Socket does. */
  setTimeout(ms: number, onTimeout?: () => void): this {
    if (onTimeout) this.once('timeout', onTimeout);
    this.idleMs = ms;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (ms > 0 && !this.destroyed) {
      this.lastActive = Date.now();
      this.armIdle(ms);
    }
    return this;
  }

  private armIdle(delay: number): void {
    // One timer per idle period, not one reset per chunk: it re-arms for what is left.
    this.idleTimer = setTimeout(() => {
      if (this.destroyed || this.idleMs === 0) return;
      const left = this.lastActive + this.idleMs - Date.now();
      if (left > 0) return this.armIdle(left);
      this.emit('timeout');
    }, delay);
    this.idleTimer.unref();
  }

  setNoDelay(): this {
    return this; // the link's socket has it on for all streams
  }

  setKeepAlive(): this {
    return this; // the link's heartbeat covers every stream
  }

  /** An abortive close: the peer gets a reset (RST frame), never a FIN that would say the stream ended complete. */
  resetAndDestroy(): this {
    this.finSent = false; // a stream that already sent its FIN still resets: the peer must not take the data as whole
    this.destroy();
    return this;
  }

  // --- to the peer (called by the session's scheduler) ----------------------

  /** Data queued and no credit to send it: waiting for the peer's WINDOW. */
  get waitsForCredit(): boolean {
    return this.state === 'open' && this.queued > 0 && this.credit === 0;
  }

  wantsTurn(): boolean {
    if (this.state !== 'open') return false;
    return this.datagrams.length > 0 || (this.queued > 0 && this.credit > 0) || (this.queued === 0 && this.finalCb !== undefined && !this.finSent);
  }

  /**
   * Send up to `quantum` bytes of datagrams (outside the window), up to `quantum` bytes of data
   * (within the credit) and, once the data is out, the FIN. Returns whether the stream wants another turn.
   */
  sendSome(quantum: number, maxFrame: number, sink: FrameSink, dataHeader: (id: number, len: number) => Buffer, fin: (id: number) => Buffer): boolean {
    for (let sent = 0; this.datagrams.length > 0 && sent < quantum; ) {
      const f = this.datagrams.shift()!;
      this.datagramBytes -= f.length;
      sent += f.length;
      this.host.datagrams.sent++;
      sink(f);
    }
    let budget = Math.min(quantum, this.credit);
    while (this.queued > 0 && budget > 0) {
      // Less than a frame left: take what the writer has written meanwhile first (the callback hands it
      // to _writev at once), so that frames stay full and line up with TLS records. Nothing more written:
      // the rest goes now, never held back for more.
      if (this.queued < maxFrame && this.writeCb) {
        this.release();
        continue;
      }
      // A frame as large as allowed, across the queued chunks.
      let n = Math.min(this.queued, budget, maxFrame);
      sink(dataHeader(this.id, n));
      this.queued -= n;
      this.credit -= n;
      budget -= n;
      while (n > 0) {
        const head = this.queue[0]!;
        if (head.length <= n) {
          sink(head, true);
          this.queue.shift();
          n -= head.length;
        } else {
          sink(head.subarray(0, n), true);
          this.queue[0] = head.subarray(n);
          n = 0;
        }
      }
    }
    if (this.queued === 0 && this.writeCb) this.release();
    // The FIN follows every datagram queued before it (a turn sends at most `quantum` of them).
    if (this.queued === 0 && this.datagrams.length === 0 && this.finalCb && !this.finSent) {
      this.finSent = true;
      sink(fin(this.id));
      const cb = this.finalCb;
      this.finalCb = undefined;
      cb();
      this.maybeForget();
    }
    return this.wantsTurn();
  }

  /** The writer's chunks are ours now (queued, or handed to the socket): it may write more. */
  private release(): void {
    const cb = this.writeCb!;
    this.writeCb = undefined;
    this.batchBytes = 0;
    cb();
  }

  private returnCredit(): void {
    if (this.state === 'closed' || this.finReceived) return;
    const consumed = this.delivered - this.readableLength;
    const owed = consumed - this.credited;
    // Batch the updates: one per half window read, not one per DATA frame.
    if (owed >= this.recvWindow / 2 || (owed > 0 && this.recvAllowed === 0)) {
      // Receive-window autotuning, as TCP does: a reader that keeps up (at most a quarter of the
      // window waiting; a relay pauses briefly on its client's backpressure all the time) while
      // the sender used half the window is limited by the window (its round trip), not by
      // itself, so the window doubles, up to maxRecvWindow. A reader that falls behind stops
      // the growth: a stalled stream holds at most the window it had when it stalled.
      const grow = this.readableLength <= this.recvWindow / 4 ? Math.min(this.recvWindow, this.maxRecvWindow - this.recvWindow) : 0;
      this.recvWindow += grow;
      this.credited += owed;
      this.recvAllowed += owed + grow;
      this.host.sendWindow(this.id, owed + grow);
    }
  }

  private maybeForget(): void {
    if (this.finSent && this.finReceived && !this.forgotten) {
      this.forgotten = true;
      this.state = 'closed';
      this.host.forget(this);
    }
  }
}

/**
 * A link: many streams over one connection (TLS in production; any Duplex
 * socket works). Either side may open streams: the side that dialled uses
 * odd ids, the other even ids. Writes are scheduled round-robin between
 * the streams that have data and credit, `QUANTUM` bytes a turn, all of one
 * tick's frames in one corked write; control frames go first.
 *
 * A protocol error from the peer (bad frame, unknown stream, window
 * overflow) sends GOAWAY with the reason and breaks the link; every stream
 * on a broken link fails with LINK_BROKEN.
 *
 * Over 500 lines on purpose: one class, one state machine — the stream table,
 * the credit both ways, the write scheduler and the drain all read and change
 * the same per-link state in the same turn; split, each part would reach into
 * the others' fields. The frames are src/protocol/link/codec.ts, the stream
 * src/link/stream.ts.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { isIP } from 'node:net';
import { LIMITS } from '../shared/limits.js';
import {
  FrameReader,
  PREFACE,
  RECORD_DATA_PAYLOAD,
  dataHeader,
  finFrame,
  goawayFrame,
  openFrame,
  pingFrame,
  rstFrame,
  windowFrame,
  openOkFrame,
  type Frame,
} from '../protocol/link/codec.js';
import { isValidDomain } from '../protocol/address.js';
import { isSlabPiece, slabSent } from '../shared/net/read-buffers.js';
import { isLinkSlabPiece, releaseLinkPiece } from '../shared/net/link-reads.js';
import { LinkError } from './errors.js';
import { LinkStream, type DatagramCounts, type StreamHost } from './stream.js';

export const DEFAULT_WINDOW = 256 * 1024;
/** A stream whose reader keeps up may grow its window to this (stream.ts, autotuning): 4 MiB covers ~40 ms of round trip at 100 MB/s. */
export const DEFAULT_MAX_WINDOW = 4 * 1024 * 1024;
export const DEFAULT_MAX_STREAMS = 16_384;
/**
 * DATA payload per frame we send: a header and this fill one 16 KiB TLS record exactly. TLS cuts a
 * write into 16 KiB records from its start, so a TLS write of whole DATA frames (a bulk transfer's
 * usual flush; a control frame ahead of them shifts that one write) arrives one frame per record, and
 * the reader hands each payload on as one piece. 64 KiB frames arrived as four pieces plus slivers
 * of a few bytes where records cut them, each a write of its own to the client at the other end.
 */
const SEND_FRAME_PAYLOAD = RECORD_DATA_PAYLOAD;
/** Bytes a stream may send per scheduling turn: small enough to interleave, large enough to fill four TLS records (whole frames: they stay aligned to records). */
const QUANTUM = 4 * SEND_FRAME_PAYLOAD;
/** Bytes we let the socket buffer before waiting for 'drain': a few TLS records' worth keeps the pipe full without hiding backpressure. */
const SOCKET_BUFFER = 256 * 1024;
/** A peer that does not read our control frames (PING answers, window updates) past this many is not a peer. */
const MAX_CONTROL_BACKLOG = 100_000;

export interface OpenRequest {
  /** `udp`: a UDP association whose datagrams travel as DATAGRAM frames (no host or port: each datagram names its target). */
  readonly kind: 'tcp' | 'udp';
  readonly host: string;
  readonly port: number;
  /** What the exit needs besides the target (policy context, egress choice): the OPEN frame's other props. */
  readonly context: ReadonlyMap<string, string>;
}

export interface LinkOptions {
  /** This side dialled the connection (picks the stream-id parity). */
  readonly dialled: boolean;
  /** Receive window per stream, bytes (where each stream starts). */
  readonly window?: number;
  /** The largest a stream's receive window may grow while its reader keeps up (default DEFAULT_MAX_WINDOW, at least `window`). */
  readonly maxWindow?: number;
  readonly maxStreams?: number;
  /** Bytes a writer may queue per stream before write() returns false (default DEFAULT_SEND_BUFFER). */
  readonly sendBuffer?: number;
  /** Send a PING this often and break the link if one goes unanswered for two periods (0: off). */
  readonly heartbeatMs?: number;
  /** Names the link in error messages (the peer's address or exit id). */
  readonly name?: string;
  /**
   * Once the link drains (GOAWAY either way), its UDP streams still open after this long are ended
   * (default LIMITS.drainTimeoutMs): an association has no end of its own and would hold a drained
   * link open for as long as its client sends. TCP streams finish as they do.
   */
  readonly udpDrainMs?: number;
}

export class LinkSession extends EventEmitter implements StreamHost {
  readonly name: string;
  private readonly socket: Duplex;
  private readonly window: number;
  private readonly maxWindow: number;
  private readonly maxStreams: number;
  private readonly sendBuffer: number | undefined;
  private readonly streams = new Map<number, LinkStream>();
  private readonly opening = new Map<number, { resolve: (s: LinkStream) => void; reject: (e: Error) => void }>();
  private readonly reader = new FrameReader();
  /** Bytes of the chunk being parsed handed to streams as views of its read slab (onBytes). */
  private handedOn = 0;
  private nextId: number;
  /** Highest id the peer has opened, and the highest we have: ids at or below are known (closed ones are ignored). */
  private peerHighest = 0;
  private ownHighest = 0;
  private control: Buffer[] = [];
  private readonly turns: LinkStream[] = [];
  private readonly inTurns = new Set<LinkStream>();
  private flushQueued = false;
  private blocked = false;
  private closed: LinkError | undefined;
  private isClosed = false;
  private goawaySent = false;
  private goawayReceived = false;
  private readonly pings = new Map<string, { start: bigint; resolve: (ms: number) => void }>();
  private pingSeq = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly udpDrainMs: number;
  private udpDrainTimer: NodeJS.Timeout | undefined;
  /** The last PING round trip, ms (heartbeats and ping()). */
  rttMs: number | undefined;
  /** DATA payload bytes sent and received over this link's life (observability, issue 19 item 5). */
  bytesSent = 0;
  bytesReceived = 0;
  /** Times a stream had data to send and no credit left: the peer's window, not the network, held it (a reader behind, or a window too small). */
  windowStalls = 0;
  /** Datagrams of UDP streams over this link's life: sent, received, dropped (queue full: the connection is behind). */
  readonly datagrams: DatagramCounts = { sent: 0, received: 0, dropped: 0 };

  /** 'stream': the peer opened one (accept or refuse it); 'close': the link is gone (an error unless drained); 'goaway': the peer drains. */
  override on(event: 'stream', listener: (s: LinkStream, req: OpenRequest) => void): this;
  override on(event: 'close', listener: (err: LinkError | undefined) => void): this;
  override on(event: 'goaway', listener: () => void): this;
  override on(event: string, listener: Parameters<EventEmitter['on']>[1]): this {
    return super.on(event, listener);
  }

  constructor(socket: Duplex, opts: LinkOptions) {
    super();
    this.socket = socket;
    this.name = opts.name ?? 'link';
    this.window = opts.window ?? DEFAULT_WINDOW;
    this.maxWindow = Math.max(this.window, opts.maxWindow ?? DEFAULT_MAX_WINDOW);
    this.maxStreams = opts.maxStreams ?? DEFAULT_MAX_STREAMS;
    this.sendBuffer = opts.sendBuffer;
    this.udpDrainMs = opts.udpDrainMs ?? LIMITS.drainTimeoutMs;
    this.nextId = opts.dialled ? 1 : 2;
    (socket as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
    socket.write(PREFACE);
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
    socket.on('error', (err: Error) => this.fail(`connection error: ${err.message}`));
    socket.on('close', () => this.fail('connection closed'));
    socket.on('end', () => this.fail('peer closed the connection'));
    if (opts.heartbeatMs) this.startHeartbeat(opts.heartbeatMs);
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** Bytes buffered by all streams right now (received not yet read, plus written not yet sent). */
  get bufferedBytes(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.bufferedBytes;
    return n;
  }

  get draining(): boolean {
    return this.goawaySent || this.goawayReceived;
  }

  get broken(): LinkError | undefined {
    return this.closed;
  }

  /**
   * Open a stream to `host:port`; resolves once the peer accepted it, rejects with its exact result code.
   * `signal` gives up on an open still unanswered: the stream is reset at the peer and forgotten here
   * (a peer that never answers must not keep it, nor hold a draining link open).
   */
  open(host: string, port: number, context: Readonly<Record<string, string>> = {}, signal?: AbortSignal): Promise<LinkStream> {
    return this.openStream({ ...context, host, port }, signal);
  }

  /**
   * Open a UDP stream: datagrams go both ways as DATAGRAM frames (LinkStream.sendDatagram, its
   * 'datagram' event), each naming its target or source; the exit answers as for open().
   */
  openDatagrams(context: Readonly<Record<string, string>> = {}, signal?: AbortSignal): Promise<LinkStream> {
    return this.openStream({ ...context, kind: 'udp' }, signal);
  }

  private openStream(props: Readonly<Record<string, string | number>>, signal: AbortSignal | undefined): Promise<LinkStream> {
    if (this.closed) return Promise.reject(this.closed);
    if (this.draining) return Promise.reject(new LinkError('LINK_DRAINING', `${this.name}: draining, no new streams`));
    if (this.streams.size >= this.maxStreams) return Promise.reject(new LinkError('STREAM_LIMIT', `${this.name}: at its limit of ${this.maxStreams} streams`));
    const id = this.nextId;
    this.nextId += 2;
    this.ownHighest = id;
    const s = new LinkStream(this, id, this.window, undefined, this.maxWindow, this.sendBuffer);
    s.datagramsAllowed = props.kind === 'udp';
    this.streams.set(id, s);
    this.sendControl(openFrame(id, { ...props, window: this.window }));
    signal?.addEventListener('abort', () => this.opening.has(id) && s.destroy(), { once: true });
    const opened = new Promise<LinkStream>((resolve, reject) => this.opening.set(id, { resolve, reject }));
    // Reset in the same write as its acceptance (a hostile peer): its 'close' came before anyone could listen.
    return opened.then((stream) => {
      if (stream.destroyed) throw new LinkError('STREAM_RESET', `${this.name}: stream ${id} was reset as it was accepted`);
      return stream;
    });
  }

  /** Round trip of one PING, ms. */
  ping(): Promise<number> {
    if (this.closed) return Promise.reject(this.closed);
    const opaque = Buffer.alloc(8);
    opaque.writeUInt32BE(++this.pingSeq >>> 0, 4);
    return new Promise((resolve) => {
      this.pings.set(opaque.toString('hex'), { start: process.hrtime.bigint(), resolve });
      this.sendControl(pingFrame(false, opaque));
    });
  }

  /** No new streams either way; the live ones finish, then the connection closes. */
  drain(message = 'draining'): void {
    if (this.closed || this.goawaySent) return;
    this.goawaySent = true;
    this.sendControl(goawayFrame(this.peerHighest, { code: 'SHUTTING_DOWN', message }));
    this.boundUdpDrain();
    this.closeIfIdle();
  }

  /** A draining link's UDP streams end after udpDrainMs (its TCP streams finish): the drain ends within a bound. */
  private boundUdpDrain(): void {
    if (this.udpDrainTimer || this.isClosed) return;
    this.udpDrainTimer = setTimeout(() => this.endDatagramStreams(`link drained ${this.udpDrainMs} ms ago`), this.udpDrainMs);
    this.udpDrainTimer.unref();
  }

  /**
   * Reset its UDP streams now: a UDP stream is no running tunnel (each datagram may go to a new
   * target), so a drain that must stop traffic to the peer (key retired, token changed) ends them.
   */
  endDatagramStreams(reason: string): void {
    for (const s of [...this.streams.values()]) {
      if (!s.datagramsAllowed) continue;
      // Still opening (its open promise says it) or no error listener yet (an exit binding): 'close' only.
      const heard = !this.opening.has(s.id) && s.listenerCount('error') > 0;
      s.destroy(heard ? new LinkError('STREAM_RESET', `${this.name}: ${reason}`) : undefined);
    }
  }

  /** Break the link now: every stream fails. */
  destroy(reason = 'closed by its side'): void {
    this.fail(reason);
  }

  // --- StreamHost ------------------------------------------------------------

  ready(s: LinkStream): void {
    if (this.inTurns.has(s)) return;
    this.inTurns.add(s);
    this.turns.push(s);
    this.scheduleFlush();
  }

  sendWindow(id: number, increment: number): void {
    this.sendControl(windowFrame(id, increment));
  }

  sendReset(id: number, code: string, message: string): void {
    if (!this.closed) this.sendControl(rstFrame(id, { code, message }));
  }

  answer(id: number, props: Readonly<Record<string, string | number>>): void {
    this.sendControl(openOkFrame(id, props));
  }

  forget(s: LinkStream): void {
    if (this.streams.get(s.id) !== s) return;
    this.streams.delete(s.id);
    const pending = this.opening.get(s.id);
    if (pending) {
      this.opening.delete(s.id);
      pending.reject(this.closed ?? new LinkError('STREAM_RESET', `${this.name}: stream ${s.id} closed before it opened`));
    }
    this.closeIfIdle();
  }

  // --- receiving ---------------------------------------------------------------

  private onBytes(chunk: Buffer): void {
    // A link read slab (shared/net/link-reads.ts): what is not a DATA view handed to a stream is done
    // once parsed. On an early return below nothing is released: the slab is left to the GC.
    const slab = isLinkSlabPiece(chunk);
    if (this.closed) {
      if (slab) releaseLinkPiece(chunk);
      return;
    }
    const frames = this.reader.push(chunk, slab);
    if (!Array.isArray(frames)) return this.protocolError((frames as { error: string }).error);
    this.handedOn = 0;
    for (const f of frames) {
      const err = this.onFrame(f, slab ? chunk.buffer : undefined);
      if (err !== undefined) return this.protocolError(err);
      if (this.closed) return;
    }
    if (slab) releaseLinkPiece(chunk, chunk.length - this.handedOn);
  }

  /** Handle one frame; a string is a protocol error. `slab`: the memory of a link read slab the frame may point into. */
  private onFrame(f: Frame, slab: ArrayBufferLike | undefined): string | undefined {
    switch (f.type) {
      case 'ping':
        if (!f.ack) this.sendControl(pingFrame(true, f.opaque));
        else this.onPong(f.opaque);
        return undefined;
      case 'goaway':
        this.goawayReceived = true;
        this.boundUdpDrain();
        this.emit('goaway');
        // Our opens above its last stream were never seen: they fail now, ready to be retried elsewhere.
        for (const [id, s] of this.streams) {
          const pending = this.opening.get(id);
          if (!this.isOwn(id) || id <= f.lastStream || !pending) continue;
          const err = new LinkError('LINK_DRAINING', `${this.name}: peer draining (${f.props.get('message') ?? ''})`);
          this.opening.delete(id);
          pending.reject(err);
          s.fail(undefined);
        }
        this.closeIfIdle();
        return undefined;
      case 'open':
        return this.onOpen(f.stream, f.props);
      default:
        break;
    }
    const s = this.streams.get(f.stream);
    if (!s) {
      const known = this.isOwn(f.stream) ? f.stream <= this.ownHighest : f.stream <= this.peerHighest;
      // Frames in flight for a stream we already closed are normal; for a stream never opened they are an attack or a bug.
      return known ? undefined : `link: frame for unknown stream ${f.stream}`;
    }
    switch (f.type) {
      case 'open-ok':
        return this.onOpenOk(s, f.props);
      case 'data': {
        if (!s.isOpen) return `link: DATA on stream ${f.stream} before it opened`;
        this.bytesReceived += f.data.length;
        const err = s.onData(f.data);
        // A view of the slab now in the stream: released by whoever writes it out (coalesce.ts), or never.
        if (err === undefined && f.data.buffer === slab) this.handedOn += f.data.length;
        return err;
      }
      case 'datagram':
        if (!s.isOpen || !s.datagramsAllowed) return `link: DATAGRAM on stream ${f.stream}, which is not an open UDP stream`;
        // A datagram's sender may keep it past this turn (dgram.send): a copy, never a view of the slab.
        return s.onDatagram(f.address, f.data.buffer === slab ? Buffer.from(f.data) : f.data);
      case 'window':
        return s.onWindow(f.increment);
      case 'fin':
        s.onFin();
        return undefined;
      case 'rst': {
        const result = f.props.get('code') ?? 'CANCEL';
        const pending = this.opening.get(s.id);
        if (pending) {
          this.opening.delete(s.id);
          pending.reject(new LinkError('OPEN_REFUSED', `${this.name}: open refused: ${result} ${f.props.get('message') ?? ''}`.trim(), result));
          s.fail(undefined); // never handed out: the open's rejection is the error
          return undefined;
        }
        s.onReset(result, f.props.get('message') ?? '');
        return undefined;
      }
    }
  }

  private onOpen(id: number, props: ReadonlyMap<string, string>): string | undefined {
    if (this.isOwn(id)) return `link: peer opened stream ${id} with our parity`;
    if (id <= this.peerHighest) return `link: stream id ${id} reused`;
    this.peerHighest = id;
    if (this.goawaySent) return void this.sendReset(id, 'SHUTTING_DOWN', 'link draining');
    if (this.streams.size >= this.maxStreams) return void this.sendReset(id, 'CONN_LIMIT', `link at its limit of ${this.maxStreams} streams`);
    const kind = props.get('kind') ?? 'tcp';
    const host = kind === 'udp' ? '' : (props.get('host') ?? '');
    const port = kind === 'udp' ? 0 : Number(props.get('port'));
    const peerWindow = Number(props.get('window'));
    if (!Number.isInteger(peerWindow) || peerWindow < 1 || peerWindow > 0x7fffffff) return `link: OPEN of stream ${id} without a valid window`;
    if (kind !== 'tcp' && kind !== 'udp') return void this.sendReset(id, 'COMMAND_UNSUPPORTED', `stream kind '${kind.slice(0, 20)}' not supported`);
    if (kind === 'tcp' && (!(Number.isInteger(port) && port >= 1 && port <= 65535) || (isIP(host) === 0 && !isValidDomain(host)))) {
      return void this.sendReset(id, 'BAD_REQUEST', `bad target '${host.slice(0, 80)}:${props.get('port')?.slice(0, 8)}'`);
    }
    const context = new Map(props);
    for (const k of ['host', 'port', 'window', 'kind']) context.delete(k);
    const s = new LinkStream(this, id, this.window, peerWindow, this.maxWindow, this.sendBuffer);
    s.datagramsAllowed = kind === 'udp';
    this.streams.set(id, s);
    if (this.listenerCount('stream') === 0) {
      s.refuse('INTERNAL', 'this side accepts no streams');
      return undefined;
    }
    this.emit('stream', s, { kind, host, port, context });
    return undefined;
  }

  private onOpenOk(s: LinkStream, props: ReadonlyMap<string, string>): string | undefined {
    const pending = this.opening.get(s.id);
    if (!pending) return `link: OPEN_OK for stream ${s.id} that is not opening`;
    this.opening.delete(s.id);
    const status = props.get('status') ?? '';
    if (status !== 'ok') {
      pending.reject(new LinkError('OPEN_REFUSED', `${this.name}: open refused: ${status} ${props.get('message') ?? ''}`.trim(), status || 'EXIT_UNREACHABLE'));
      s.fail(undefined);
      return undefined;
    }
    const peerWindow = Number(props.get('window'));
    if (!Number.isInteger(peerWindow) || peerWindow < 1 || peerWindow > 0x7fffffff) return `link: OPEN_OK of stream ${s.id} without a valid window`;
    s.opened(peerWindow, props.get('bind'));
    pending.resolve(s);
    return undefined;
  }

  private onPong(opaque: Buffer): void {
    const key = opaque.toString('hex');
    const p = this.pings.get(key);
    if (!p) return;
    this.pings.delete(key);
    this.rttMs = Number(process.hrtime.bigint() - p.start) / 1e6;
    p.resolve(this.rttMs);
  }

  // --- sending -------------------------------------------------------------------

  private sendControl(frame: Buffer): void {
    if (this.isClosed) return;
    this.control.push(frame);
    if (this.control.length > MAX_CONTROL_BACKLOG) return this.fail('peer does not read (control backlog)');
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushQueued || this.blocked) return;
    this.flushQueued = true;
    process.nextTick(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  private readonly sink = (bytes: Buffer, payload?: boolean): void => {
    if (payload) this.bytesSent += bytes.length;
    // An exit's target read into a slab: once the TLS socket has taken these bytes (its write
    // callback), the slab may be reused for later reads instead of a fresh one (read-buffers.ts).
    if (payload && isSlabPiece(bytes)) this.socket.write(bytes, (err?: Error | null) => {
        if (!err) slabSent(bytes);
      });
    else this.socket.write(bytes);
  };

  private flush(): void {
    if (this.isClosed || this.blocked) return;
    const sock = this.socket as Duplex & { writableNeedDrain: boolean };
    sock.cork();
    try {
      for (const f of this.control) sock.write(f);
      this.control = [];
      while (this.turns.length > 0 && sock.writableLength < SOCKET_BUFFER) {
        const s = this.turns.shift()!;
        if (s.sendSome(QUANTUM, SEND_FRAME_PAYLOAD, this.sink, dataHeader, finFrame)) this.turns.push(s);
        else {
          this.inTurns.delete(s);
          if (s.waitsForCredit) this.windowStalls++;
        }
      }
      // 'drain' comes only after a write was refused (writableNeedDrain), which is the case past the socket's own mark.
      if (sock.writableLength >= SOCKET_BUFFER && sock.writableNeedDrain) this.blocked = true;
    } finally {
      sock.uncork();
    }
  }

  // --- lifecycle -----------------------------------------------------------------

  private isOwn(id: number): boolean {
    return id % 2 === this.nextId % 2;
  }

  private closeIfIdle(): void {
    if (this.draining && this.streams.size === 0 && !this.isClosed) {
      this.flush();
      this.isClosed = true;
      this.socket.end();
      this.finish(undefined);
    }
  }

  private protocolError(message: string): void {
    if (this.isClosed) return;
    this.control.push(goawayFrame(this.peerHighest, { code: 'BAD_REQUEST', message: message.slice(0, 500) }));
    this.blocked = false;
    this.flush();
    this.isClosed = true;
    this.socket.end();
    // The peer gets a moment to read the GOAWAY; then the connection goes either way.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.fail(`protocol error: ${message}`);
  }

  private fail(reason: string): void {
    if (this.closed) return;
    const err = new LinkError('LINK_BROKEN', `${this.name}: link broken: ${reason}`);
    this.closed = err;
    if (!this.isClosed) {
      this.isClosed = true;
      this.socket.destroy();
    }
    for (const s of [...this.streams.values()]) {
      const pending = this.opening.get(s.id);
      this.opening.delete(s.id);
      pending?.reject(err);
      // A stream still opening was never handed out: its open promise carries the error, nobody listens on it.
      s.fail(pending ? undefined : err);
    }
    this.streams.clear();
    this.finish(err);
  }

  private finish(err: LinkError | undefined): void {
    clearTimeout(this.udpDrainTimer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (!this.closed) this.closed = new LinkError('LINK_DRAINING', `${this.name}: closed after draining`);
    this.emit('close', err);
  }

  private startHeartbeat(ms: number): void {
    let unanswered = 0;
    this.heartbeat = setInterval(() => {
      if (++unanswered > 2) return this.fail(`no heartbeat answer for ${2 * ms} ms`);
      this.ping().then(
        () => (unanswered = 0),
        () => undefined, // the link failed: fail() already reported it
      );
    }, ms);
    this.heartbeat.unref();
  }
}

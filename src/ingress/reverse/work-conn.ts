/**
 * One work connection on the ingress side: a TLS socket from a reverse exit,
 * read as work packets until it is handed a request and the exit's response
 * arrives; from then on its bytes are raw (the caller takes the socket).
 */
import type { TLSSocket } from 'node:tls';
import { MAX_PACKET_BYTES, parsePacket, type WorkPacket } from '../../protocol/work-packet/codec.js';

const EMPTY = Buffer.alloc(0);

export type ConnState = 'registering' | 'idle' | 'busy' | 'closed';

/** What a packet handler says: keep reading packets, or stop (the rest of the stream is raw). */
export type PacketVerdict = 'continue' | 'stop';

export class WorkConn {
  state: ConnState = 'registering';
  /** The registered exit's id (set once registered). */
  exitId = '';
  /** A heartbeat was sent and not yet answered. */
  awaitingBeat = false;
  private buf: Buffer = EMPTY;
  private reading = true;
  /** Called for each whole packet while reading packets. */
  onPacket: (p: WorkPacket) => PacketVerdict = () => 'continue';
  /** Called once when the socket closes (or the peer broke the framing). */
  onClose: (why: string) => void = () => undefined;
  private closedWhy: string | undefined;

  constructor(
    readonly socket: TLSSocket,
    readonly source: string,
  ) {
    socket.on('data', this.onData);
    socket.once('close', () => this.closed('closed by peer'));
    socket.on('error', () => undefined); // surfaced as 'close'
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.reading) {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      return;
    }
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.reading && this.buf.length > 0) {
      const r = parsePacket(this.buf);
      if (r.kind === 'more') {
        if (this.buf.length > MAX_PACKET_BYTES) this.fail('packet too large');
        return;
      }
      if (r.kind === 'error') return this.fail(r.message);
      this.buf = r.consumed >= this.buf.length ? EMPTY : this.buf.subarray(r.consumed);
      if (this.onPacket(r.value) === 'stop') this.reading = false;
    }
  };

  write(packet: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(packet);
  }

  fail(why: string): void {
    this.closedWhy ??= why;
    this.socket.destroy();
  }

  private closed(why: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.onClose(this.closedWhy ?? why);
  }

  /** Stop listening for packets and hand over the bytes that followed the last one (raw data). */
  detach(): Buffer {
    this.reading = false;
    this.socket.off('data', this.onData);
    this.socket.pause();
    const rest = this.buf;
    this.buf = EMPTY;
    return rest;
  }
}

/**
 * Link frames: many tunnels (streams) inside one long-lived TLS connection
 * between an ingress and an exit (issue 19; src/link/ runs the sessions).
 *
 * A link starts with a 4-byte preface from each side: 'HL', version, 0.
 * Then frames:
 *
 *   0      1          5          9
 *   +------+----------+----------+-----------+
 *   | type | stream   | length   | payload   |
 *   +------+----------+----------+-----------+
 *     u8     u32 BE     u32 BE     length B
 *
 * OPEN, OPEN_OK, RST and GOAWAY carry the work packets' props block
 * (src/protocol/work-packet/codec.ts) so both protocols share one
 * key/value encoding. DATAGRAM (one UDP datagram of a `kind=udp` stream)
 * carries a SOCKS5 address (ATYP, address, port: the target going out, the
 * source coming back) and the datagram: one frame per datagram keeps its
 * boundaries, and it is outside the stream's window (UDP may be lost, never
 * waited for: a full queue drops it, src/link/stream.ts). Pure: bytes in,
 * frames out; never reads past what it was given, never throws on input.
 */
import { MORE, fail, ok, type Parse } from '../parse.js';
import type { TargetAddress } from '../address.js';
import { encodeAddress, parseAddress } from '../socks5/codec.js';
import { encodeProps, parseProps } from '../work-packet/codec.js';

export const PREFACE = Buffer.from([0x48, 0x4c, 1, 0]); // 'HL', version 1
export const HEADER_BYTES = 9;
/** Largest payload a peer may send in one frame; DATA is cut to this. */
export const MAX_FRAME_PAYLOAD = 64 * 1024;
/** DATA payload that, with its header, fills one 16 KiB TLS record: what a link sends per frame, and a full piece at the other end. */
export const RECORD_DATA_PAYLOAD = 16 * 1024 - HEADER_BYTES;
/** A DATAGRAM's payload may be larger than MAX_FRAME_PAYLOAD: the largest UDP payload (65,535 − 28) and the longest address (1 + 1 + 255 + 2). */
export const MAX_DATAGRAM_PAYLOAD = 65_507 + 259;
/** A window may never grow past this (RFC 9113's bound, for the same reason: a 31-bit counter). */
export const MAX_WINDOW = 0x7fffffff;

export const TYPE = Object.freeze({
  open: 1,
  'open-ok': 2,
  data: 3,
  window: 4,
  fin: 5,
  rst: 6,
  ping: 7,
  goaway: 8,
  datagram: 9,
} as const);

type Props = ReadonlyMap<string, string>;
export type Frame =
  | { readonly type: 'open'; readonly stream: number; readonly props: Props }
  | { readonly type: 'open-ok'; readonly stream: number; readonly props: Props }
  | { readonly type: 'data'; readonly stream: number; readonly data: Buffer }
  | { readonly type: 'window'; readonly stream: number; readonly increment: number }
  | { readonly type: 'fin'; readonly stream: number }
  | { readonly type: 'rst'; readonly stream: number; readonly props: Props }
  | { readonly type: 'ping'; readonly stream: 0; readonly ack: boolean; readonly opaque: Buffer }
  | { readonly type: 'goaway'; readonly stream: 0; readonly lastStream: number; readonly props: Props }
  | { readonly type: 'datagram'; readonly stream: number; readonly address: TargetAddress; readonly data: Buffer };

type PropsInput = Readonly<Record<string, string | number | undefined>>;

function frame(type: number, stream: number, payload: Buffer | undefined): Buffer {
  const len = payload?.length ?? 0;
  const out = Buffer.allocUnsafe(HEADER_BYTES + len);
  out[0] = type;
  out.writeUInt32BE(stream, 1);
  out.writeUInt32BE(len, 5);
  payload?.copy(out, HEADER_BYTES);
  return out;
}

/** The header of a DATA frame alone: the payload is written after it without a copy. */
export function dataHeader(stream: number, length: number): Buffer {
  if (length > MAX_FRAME_PAYLOAD) throw new RangeError('link: DATA payload too large');
  return frameHeader(TYPE.data, stream, length);
}

function frameHeader(type: number, stream: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES);
  out[0] = type;
  out.writeUInt32BE(stream, 1);
  out.writeUInt32BE(length, 5);
  return out;
}

export const openFrame = (stream: number, props: PropsInput): Buffer => frame(TYPE.open, stream, encodeProps(props));
export const openOkFrame = (stream: number, props: PropsInput): Buffer => frame(TYPE['open-ok'], stream, encodeProps(props));
export const finFrame = (stream: number): Buffer => frame(TYPE.fin, stream, undefined);
export const rstFrame = (stream: number, props: PropsInput): Buffer => frame(TYPE.rst, stream, encodeProps(props));

export function windowFrame(stream: number, increment: number): Buffer {
  if (!Number.isInteger(increment) || increment < 1 || increment > MAX_WINDOW) throw new RangeError('link: WINDOW increment out of range');
  return frame(TYPE.window, stream, u32(increment));
}

export function pingFrame(ack: boolean, opaque: Buffer): Buffer {
  if (opaque.length !== 8) throw new RangeError('link: PING opaque data is 8 bytes');
  return frame(TYPE.ping, 0, Buffer.concat([Buffer.from([ack ? 1 : 0]), opaque]));
}

export function goawayFrame(lastStream: number, props: PropsInput): Buffer {
  return frame(TYPE.goaway, 0, Buffer.concat([u32(lastStream), encodeProps(props)]));
}

/** One datagram of a UDP stream: `address` is its target (to the exit) or its source (back from it). */
export function datagramFrame(stream: number, address: { host: string; port: number }, data: Buffer): Buffer {
  const addr = encodeAddress(address.host, address.port);
  if (addr.length + data.length > MAX_DATAGRAM_PAYLOAD) throw new RangeError('link: DATAGRAM too large');
  const out = Buffer.allocUnsafe(HEADER_BYTES + addr.length + data.length);
  out[0] = TYPE.datagram;
  out.writeUInt32BE(stream, 1);
  out.writeUInt32BE(addr.length + data.length, 5);
  addr.copy(out, HEADER_BYTES);
  data.copy(out, HEADER_BYTES + addr.length);
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** Check the 4-byte preface at the front of `b`. */
export function parsePreface(b: Buffer): Parse<true> {
  for (let i = 0; i < Math.min(b.length, PREFACE.length); i++) {
    if (b[i] !== PREFACE[i]) return fail('BAD_REQUEST', i < 2 ? 'not a hopgate link (bad preface)' : `link version ${b[2]} not supported (want ${PREFACE[2]})`);
  }
  return b.length < PREFACE.length ? MORE : ok(true, PREFACE.length);
}

/**
 * Parse one frame from the front of `b`: `more` until it is whole, `error`
 * on anything malformed or over the limits. DATA payloads are views of `b`
 * (no copy): the caller must not reuse `b`'s memory.
 */
export function parseFrame(b: Buffer): Parse<Frame> {
  if (b.length < 1) return MORE;
  const type = b[0]!;
  if (type < TYPE.open || type > TYPE.datagram) return fail('BAD_REQUEST', `unknown link frame type ${type}`);
  if (b.length < HEADER_BYTES) return MORE;
  const stream = b.readUInt32BE(1);
  const len = b.readUInt32BE(5);
  const limit = type === TYPE.datagram ? MAX_DATAGRAM_PAYLOAD : MAX_FRAME_PAYLOAD;
  if (len > limit) return fail('BAD_REQUEST', `link frame too large (${len} bytes, limit ${limit})`);
  const connectionLevel = type === TYPE.ping || type === TYPE.goaway;
  if (connectionLevel && stream !== 0) return fail('BAD_REQUEST', `link frame type ${type} on stream ${stream} (must be 0)`);
  if (!connectionLevel && stream === 0) return fail('BAD_REQUEST', `link frame type ${type} on stream 0`);
  const end = HEADER_BYTES + len;
  if (b.length < end) return MORE;
  const start = HEADER_BYTES;
  switch (type) {
    case TYPE.data:
      return ok({ type: 'data', stream, data: b.subarray(start, end) }, end);
    case TYPE.window: {
      if (len !== 4) return fail('BAD_REQUEST', `link WINDOW frame of ${len} bytes (must be 4)`);
      const increment = b.readUInt32BE(start);
      if (increment === 0 || increment > MAX_WINDOW) return fail('BAD_REQUEST', `link WINDOW increment ${increment} out of range`);
      return ok({ type: 'window', stream, increment }, end);
    }
    case TYPE.datagram: {
      const addr = parseAddress(b.subarray(start, end), 0);
      if (addr.kind === 'more') return fail('BAD_REQUEST', 'link DATAGRAM with a truncated address');
      if (addr.kind === 'error') return fail('BAD_REQUEST', `link DATAGRAM: ${addr.message}`);
      return ok({ type: 'datagram', stream, address: addr.value, data: b.subarray(start + addr.consumed, end) }, end);
    }
    case TYPE.fin:
      if (len !== 0) return fail('BAD_REQUEST', 'link FIN frame with a payload');
      return ok({ type: 'fin', stream }, end);
    case TYPE.ping:
      if (len !== 9) return fail('BAD_REQUEST', `link PING frame of ${len} bytes (must be 9)`);
      return ok({ type: 'ping', stream: 0, ack: b[start] === 1, opaque: Buffer.from(b.subarray(start + 1, end)) }, end);
    case TYPE.goaway: {
      if (len < 4) return fail('BAD_REQUEST', 'link GOAWAY frame truncated');
      const props = parseProps(b, start + 4, end);
      if (typeof props === 'string') return fail('BAD_REQUEST', `link GOAWAY: ${props}`);
      return ok({ type: 'goaway', stream: 0, lastStream: b.readUInt32BE(start), props }, end);
    }
    default: {
      const props = parseProps(b, start, end);
      if (typeof props === 'string') return fail('BAD_REQUEST', `link frame type ${type}: ${props}`);
      const t = type === TYPE.open ? 'open' : type === TYPE['open-ok'] ? 'open-ok' : 'rst';
      return ok({ type: t, stream, props }, end);
    }
  }
}

/**
 * Frames from a byte stream in chunks: keeps the unparsed tail, parses
 * the preface first. `push` returns the frames now whole, or the first
 * error (after which the reader is done: the link must close).
 *
 * A DATA payload is passed on piece by piece as its chunks arrive (each
 * piece a DATA frame of the same stream, a view of the chunk): a 64 KiB
 * frame comes in four 16 KiB TLS records, and joining them cost a 64 KiB
 * allocation and copy per frame on the receiving side (docs/BENCHMARKS.md,
 * "Link bulk"). Other frames are small and are joined whole.
 */
export class FrameReader {
  /** Unparsed chunks, joined only once a whole frame is there. */
  private pending: Buffer[] = [];
  private pendingLen = 0;
  /** Bytes the next frame needs in total, once its header is known. */
  private needed = 0;
  /** Payload bytes of the current DATA frame still to come, and its stream. */
  private dataLeft = 0;
  private dataStream = 0;
  private prefaceSeen = false;
  private failed = false;

  /**
   * The frames completed by `chunk`. `reused`: the chunk's memory is reused once this returns (a
   * read slab, shared/net/link-reads.ts), so whatever is kept for a later call is copied; only the
   * DATA payloads returned may point into it.
   */
  push(chunk: Buffer, reused = false): Frame[] | { readonly error: string } {
    if (this.failed) return { error: 'link reader already failed' };
    const out: Frame[] = [];
    if (this.dataLeft > 0) {
      const n = Math.min(this.dataLeft, chunk.length);
      out.push({ type: 'data', stream: this.dataStream, data: chunk.subarray(0, n) });
      this.dataLeft -= n;
      if (n === chunk.length) return out;
      chunk = chunk.subarray(n);
    }
    this.pending.push(chunk);
    this.pendingLen += chunk.length;
    if (this.pendingLen < this.needed) {
      if (reused) this.pending[this.pending.length - 1] = Buffer.from(chunk);
      return out;
    }
    let b = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLen);
    this.needed = 0;
    if (!this.prefaceSeen) {
      const p = parsePreface(b);
      if (p.kind === 'error') return this.fail(p.message);
      if (p.kind === 'more') return this.keep(b, out, reused);
      this.prefaceSeen = true;
      b = b.subarray(p.consumed);
    }
    for (;;) {
      const r = parseFrame(b);
      if (r.kind === 'error') return this.fail(r.message);
      if (r.kind === 'more') {
        // parseFrame checks a header before it waits for the payload: a DATA header here is valid.
        if (b.length >= HEADER_BYTES && b[0] === TYPE.data) {
          this.dataStream = b.readUInt32BE(1);
          this.dataLeft = b.readUInt32BE(5) - (b.length - HEADER_BYTES);
          if (b.length > HEADER_BYTES) out.push({ type: 'data', stream: this.dataStream, data: b.subarray(HEADER_BYTES) });
          b = b.subarray(b.length);
        }
        break;
      }
      out.push(r.value);
      b = b.subarray(r.consumed);
    }
    if (b.length >= HEADER_BYTES) this.needed = HEADER_BYTES + b.readUInt32BE(5);
    return this.keep(b, out, reused);
  }

  private keep(b: Buffer, out: Frame[], reused: boolean): Frame[] {
    // Copy a small tail so that a view does not pin a whole large chunk (any tail of a reused one).
    this.pending = b.length === 0 ? [] : [b.length < 1024 || reused ? Buffer.from(b) : b];
    this.pendingLen = b.length;
    return out;
  }

  private fail(error: string): { readonly error: string } {
    this.failed = true;
    this.pending = [];
    this.pendingLen = 0;
    return { error };
  }
}

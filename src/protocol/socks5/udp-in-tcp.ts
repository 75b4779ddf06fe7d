/**
 * UDP carried inside a TCP stream: hopgate's SOCKS5 extension command
 * UDP_IN_TCP (0x83), for UDP across chained routes where no datagram can
 * reach the exit (docs/EXITS.md). After the success reply, each direction is a
 * sequence of frames:
 *
 *   LEN (2 bytes, big-endian) | RFC 1928 UDP request header + DATA (LEN bytes)
 *
 * The header is the one SOCKS5 UDP datagrams carry (RSV RSV FRAG ATYP ADDR PORT),
 * so the same parser serves both. Pure: bytes in, frames out.
 */
export const MAX_FRAME = 0xffff;

export function encodeFrame(datagram: Buffer): Buffer {
  if (datagram.length > MAX_FRAME) throw new RangeError(`UDP-in-TCP frame of ${datagram.length} bytes exceeds ${MAX_FRAME}`);
  const out = Buffer.allocUnsafe(2 + datagram.length);
  out.writeUInt16BE(datagram.length, 0);
  datagram.copy(out, 2);
  return out;
}

/** Splits a byte stream into frames; keeps at most one partial frame (≤ 64 KiB + 1). */
export class FrameScanner {
  private pending: Buffer = Buffer.alloc(0);

  /** Whole frames completed by this chunk, in order. */
  feed(chunk: Buffer): Buffer[] {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: Buffer[] = [];
    while (buf.length >= 2) {
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) break;
      frames.push(buf.subarray(2, 2 + len));
      buf = buf.subarray(2 + len);
    }
    // Copy the remainder so a large chunk is not kept alive by a small tail.
    this.pending = buf.length > 0 ? Buffer.from(buf) : Buffer.alloc(0);
    return frames;
  }

  get buffered(): number {
    return this.pending.length;
  }
}

/**
 * Reads a socket through pure parsers: bytes accumulate until the parser says
 * `ok` or `error`. Used for handshakes and HTTP heads (bounded by `maxBytes`),
 * and to forward a framed HTTP body with backpressure. The caller bounds the
 * time.
 */
import type { Socket } from 'node:net';
import { ProxyError, type ErrorCode } from '../shared/errors.js';
import type { Parse } from '../protocol/parse.js';

/** Paces forwarding (a customer's bandwidth bucket): resolves to how many of `n` bytes may go now (≥ 1). */
export interface Pacer {
  tryTake(n: number): number;
  take(n: number): Promise<number>;
}

const EMPTY = Buffer.alloc(0);

export class ByteReader {
  private buf: Buffer;
  private wake: (() => void) | undefined;
  private ended = false;
  /** The socket closed with an error (a reset, or destroyed with a reason): not a clean end. */
  private failed = false;

  constructor(
    readonly socket: Socket,
    initial: Buffer,
    private readonly maxBytes: number,
  ) {
    this.buf = initial;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    // Bounded memory: stop reading until a consumer asks for more.
    if (this.buf.length > this.maxBytes) this.socket.pause();
    this.wake?.();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    this.wake?.();
  };

  private readonly onClose = (hadError: boolean): void => {
    if (hadError && !this.ended) this.failed = true;
    this.onEnd();
  };

  get buffered(): number {
    return this.buf.length;
  }

  /** True once the peer has closed its side and everything buffered was consumed. */
  get exhausted(): boolean {
    return this.ended && this.buf.length === 0;
  }

  private more(): Promise<void> {
    if (this.socket.isPaused()) this.socket.resume();
    return new Promise<void>((resolve) => (this.wake = resolve)).then(() => {
      this.wake = undefined;
    });
  }

  async read<T>(parse: (b: Buffer) => Parse<T>, tooLarge: ErrorCode = 'BAD_REQUEST', closedMessage = 'peer closed during handshake'): Promise<T> {
    for (;;) {
      const r = parse(this.buf);
      if (r.kind === 'ok') {
        this.buf = r.consumed >= this.buf.length ? EMPTY : this.buf.subarray(r.consumed);
        return r.value;
      }
      if (r.kind === 'error') throw new ProxyError(r.code, r.message);
      if (this.buf.length > this.maxBytes) throw new ProxyError(tooLarge, 'message too large');
      if (this.ended) throw new ProxyError('BAD_REQUEST', closedMessage);
      await this.more();
    }
  }

  /**
   * Forward bytes to `dst` while `take(buf)` says how many of the buffered
   * bytes still belong to the message (-1: malformed). Resolves when `done()`;
   * with `untilClose`, when the peer ends. With `pace`, bytes wait for its grants
   * (the socket stays paused past `maxBytes` meanwhile: bounded memory).
   * A peer that resets ends nothing cleanly, `untilClose` or not.
   */
  async forward(
    dst: Socket,
    take: (b: Buffer) => number,
    done: () => boolean,
    onBytes: (n: number) => void,
    untilClose = false,
    pace?: Pacer,
    malformed?: () => string | undefined,
  ): Promise<void> {
    for (;;) {
      if (this.buf.length > 0) {
        const n = take(this.buf);
        if (n < 0) throw new ProxyError('BAD_REQUEST', malformed?.() ?? 'malformed message body');
        if (n > 0) {
          const part = n >= this.buf.length ? this.buf : this.buf.subarray(0, n);
          this.buf = n >= this.buf.length ? EMPTY : this.buf.subarray(n);
          if (pace) await pacedWrite(dst, part, pace, onBytes);
          else {
            onBytes(part.length);
            if (!dst.write(part)) await waitDrain(dst);
          }
        }
      }
      if (done()) return;
      if (this.ended) {
        if (this.failed) throw new ProxyError('BAD_REQUEST', 'peer reset the connection in the middle of a message');
        if (untilClose) return;
        throw new ProxyError('BAD_REQUEST', 'peer closed in the middle of a message');
      }
      await this.more();
    }
  }

  /** Stop reading and hand over what is left (bytes the peer pipelined early). */
  detach(): Buffer {
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onClose);
    const rest = this.buf;
    this.buf = EMPTY;
    return rest;
  }
}

async function pacedWrite(dst: Socket, part: Buffer, pace: Pacer, onBytes: (n: number) => void): Promise<void> {
  while (part.length > 0) {
    const k = pace.tryTake(part.length) || (await pace.take(part.length));
    onBytes(k);
    if (dst.destroyed) throw new ProxyError('BAD_REQUEST', 'peer went away');
    const ok = dst.write(k === part.length ? part : part.subarray(0, k));
    part = part.subarray(k);
    if (!ok) await waitDrain(dst);
  }
}

function waitDrain(s: Socket): Promise<void> {
  if (s.destroyed) return Promise.reject(new ProxyError('BAD_REQUEST', 'peer went away'));
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      s.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      s.off('drain', onDrain);
      reject(new ProxyError('BAD_REQUEST', 'peer went away'));
    };
    s.once('drain', onDrain);
    s.once('close', onClose);
  });
}

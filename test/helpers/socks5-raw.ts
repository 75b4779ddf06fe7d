/**
 * A minimal SOCKS5 client over a plain socket, for tests that must control the
 * socket itself (pausing, half-close) without a library's buffering in between.
 */
import { connect, type Socket } from 'node:net';

/** Exactly n bytes, or a rejection naming how many came before the close or the deadline. */
export function readExactly(s: Socket, n: number, ms = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timeout after ${buf.length} of ${n} bytes`));
    }, ms);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= n) {
        cleanup();
        if (buf.length > n) s.unshift(buf.subarray(n));
        resolve(buf.subarray(0, n));
      }
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error(`socket closed after ${buf.length} of ${n} bytes`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      s.off('data', onData);
      s.off('close', onEnd);
      s.pause();
    };
    s.on('data', onData);
    s.once('close', onEnd);
    s.resume();
  });
}

/** Greeting, RFC 1929 credentials and CONNECT to 127.0.0.1:port, pipelined as one write's bytes. */
export function socks5PipelinedConnect(port: number, user: string, pass: string): Buffer {
  const u = Buffer.from(user);
  const p = Buffer.from(pass);
  return Buffer.concat([
    Buffer.from([5, 1, 2]),
    Buffer.from([1, u.length]), u, Buffer.from([p.length]), p,
    Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff]),
  ]);
}

export interface RawOptions {
  proxyHost?: string;
  /** Source address of the client's connection. */
  localAddress?: string;
  /** 1 CONNECT (default), 3 UDP ASSOCIATE. */
  cmd?: number;
  /** Per read of the handshake. */
  timeoutMs?: number;
}

/**
 * Greeting + RFC 1929 + CONNECT (or another command) to an IPv4 target; resolves to the tunnel
 * socket (paused) with the reply's port, or rejects with the REP code. A string is the proxy's host.
 */
export async function socks5ConnectRaw(proxyPort: number, user: string, pass: string, host: string, port: number, options: string | RawOptions = {}): Promise<Socket & { bindPort: number }> {
  const o: RawOptions = typeof options === 'string' ? { proxyHost: options } : options;
  const read = (n: number): Promise<Buffer> => readExactly(s, n, o.timeoutMs);
  const s = connect({ port: proxyPort, host: o.proxyHost ?? '127.0.0.1', localAddress: o.localAddress, allowHalfOpen: true });
  s.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  try {
    s.write(Buffer.from([5, 1, 2]));
    const choice = await read(2);
    if (choice[1] !== 2) throw new Error(`method ${choice[1]}`);
    const u = Buffer.from(user);
    const p = Buffer.from(pass);
    s.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
    const status = await read(2);
    if (status[1] !== 0) throw new Error(`auth status ${status[1]}`);
    const req = Buffer.alloc(10);
    req.set([5, o.cmd ?? 1, 0, 1], 0);
    host.split('.').forEach((octet, i) => (req[4 + i] = Number(octet)));
    req.writeUInt16BE(port, 8);
    s.write(req);
    const head = await read(4);
    if (head[1] !== 0) throw new Error(`REP ${head[1]}`);
    const rest = await read(head[3] === 1 ? 6 : head[3] === 4 ? 18 : 1 + (await read(1))[0]! + 2);
    return Object.assign(s, { bindPort: rest.readUInt16BE(rest.length - 2) });
  } catch (err) {
    s.destroy();
    throw err;
  }
}

/**
 * A minimal SOCKS5 client over a plain socket, for tests that must control the
 * socket itself (pausing, half-close) without a library's buffering in between.
 */
import { connect, type Socket } from 'node:net';

function readExactly(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
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
      s.off('data', onData);
      s.off('close', onEnd);
      s.pause();
    };
    s.on('data', onData);
    s.once('close', onEnd);
    s.resume();
  });
}

/** Greeting + RFC 1929 + CONNECT to an IPv4 target; resolves to the tunnel socket (paused) or rejects with the REP code. */
export async function socks5ConnectRaw(proxyPort: number, user: string, pass: string, host: string, port: number, proxyHost = '127.0.0.1'): Promise<Socket> {
  const s = connect({ port: proxyPort, host: proxyHost, allowHalfOpen: true });
  s.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  s.write(Buffer.from([5, 1, 2]));
  const choice = await readExactly(s, 2);
  if (choice[1] !== 2) throw new Error(`method ${choice[1]}`);
  const u = Buffer.from(user);
  const p = Buffer.from(pass);
  s.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
  const status = await readExactly(s, 2);
  if (status[1] !== 0) throw new Error(`auth status ${status[1]}`);
  const req = Buffer.alloc(10);
  req.set([5, 1, 0, 1], 0);
  host.split('.').forEach((o, i) => (req[4 + i] = Number(o)));
  req.writeUInt16BE(port, 8);
  s.write(req);
  const head = await readExactly(s, 4);
  if (head[1] !== 0) throw new Error(`REP ${head[1]}`);
  const rest = head[3] === 1 ? 6 : head[3] === 4 ? 18 : 1 + (await readExactly(s, 1))[0]! + 2;
  await readExactly(s, rest);
  return s;
}

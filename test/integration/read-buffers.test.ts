/**
 * Upstream reads into reused buffers (src/ingress/relay/read-buffers.ts): one
 * scratch buffer for the whole process, and a buffer of its own for a socket
 * that downloads. Reuse must never corrupt or reorder a byte, whichever socket
 * reads next and however slowly the client takes the bytes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer, request } from 'node:http';
import { SocksClient } from 'socks';
import { listen0, withTimeout } from '../helpers/net.js';
import { startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { ownBuffersHeld, readBufferLimits } from '../../src/shared/net/read-buffers.js';
import { eventually } from '../helpers/eventually.js';

const MiB = 1024 * 1024;
/** Byte i of stream `seed` (a pattern that differs per stream and per position). */
const byteAt = (seed: number, i: number): number => (i * 7 + seed * 13 + (i >> 12)) & 0xff;

let ing: TestIngress;
let source: Server; // sends `size` pattern bytes for the seed the client names, in uneven writes, then ends
let sourcePort: number;

before(async () => {
  ing = await startTestIngress();
  source = createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', (d: Buffer) => {
      const [seed, size] = d.toString().split(' ').map(Number) as [number, number];
      let sent = 0;
      const pump = (): void => {
        while (sent < size) {
          const n = Math.min(size - sent, 1 + ((sent * 31) % 90_000)); // from 1 byte to ~88 KiB
          const chunk = Buffer.allocUnsafe(n);
          for (let k = 0; k < n; k++) chunk[k] = byteAt(seed, sent + k);
          sent += n;
          if (!s.write(chunk)) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
  });
  sourcePort = await listen0(source);
});
after(async () => {
  source.close();
  await ing.stop();
});

async function download(seed: number, size: number, slow: boolean): Promise<{ bytes: number; bad: number }> {
  const { socket } = await SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port: ing.port, type: 5, userId: USER.login, password: USER.password },
    command: 'connect',
    destination: { host: '127.0.0.1', port: sourcePort },
    timeout: 5000,
  });
  socket.write(`${seed} ${size}`);
  let bytes = 0;
  let bad = 0;
  return new Promise((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      for (let k = 0; k < d.length; k++) if (d[k] !== byteAt(seed, bytes + k)) bad++;
      bytes += d.length;
      // A slow reader: the ingress's writes to it stay pending, so its own buffer is held.
      if (slow && bytes % (3 * MiB) < d.length) {
        socket.pause();
        setTimeout(() => socket.resume(), 30);
      }
    });
    socket.once('end', () => (socket.destroy(), resolve({ bytes, bad })));
    socket.once('error', reject);
  });
}

/** Six parallel 12 MiB downloads, every other one read slowly; returns the most own buffers held at once. */
async function parallelDownloads(): Promise<number> {
  const size = 12 * MiB;
  let most = 0;
  const sampler = setInterval(() => (most = Math.max(most, ownBuffersHeld())), 5);
  const runs = [1, 2, 3, 4, 5, 6].map((seed) => download(seed, size, seed % 2 === 0));
  const results = await withTimeout(Promise.all(runs), 30_000, 'downloads').finally(() => clearInterval(sampler));
  for (const [i, r] of results.entries()) {
    assert.equal(r.bytes, size, `stream ${i + 1} length`);
    assert.equal(r.bad, 0, `stream ${i + 1} has ${r.bad} corrupted bytes`);
  }
  // Every tunnel is closed once its relay ends: no own buffer is left counted.
  await eventually('no own buffer held', () => ownBuffersHeld() === 0, { timeoutMs: 2000, everyMs: 20 });
  return most;
}

test('parallel downloads, fast and slow readers, arrive complete and uncorrupted through own buffers', async () => {
  assert.ok((await parallelDownloads()) > 0, 'the downloads read into buffers of their own');
});

test('with no own buffer to spare, the same downloads share the scratch buffer and still arrive intact', async () => {
  const saved = readBufferLimits.ownBuffersMax;
  readBufferLimits.ownBuffersMax = 0;
  try {
    assert.equal(await parallelDownloads(), 0, 'no own buffer was taken');
  } finally {
    readBufferLimits.ownBuffersMax = saved;
  }
});

test('small interactive exchanges between downloads use the shared buffer without mixing streams', async () => {
  const sizes = [1, 100, 5000, 20_000, 70_000, 300_000];
  const results = await withTimeout(Promise.all(sizes.map((n, i) => download(20 + i, n, false))), 15_000, 'small downloads');
  for (const [i, r] of results.entries()) {
    assert.deepEqual(r, { bytes: sizes[i], bad: 0 });
  }
});

test('bytes the target sends before the client says anything are relayed too (a server greeting first)', async () => {
  const banner = Buffer.from('SSH-2.0-test\r\n');
  const server = createServer((s: Socket) => {
    s.on('error', () => undefined);
    s.end(banner);
  });
  const port = await listen0(server);
  try {
    const { socket } = await SocksClient.createConnection({
      proxy: { host: '127.0.0.1', port: ing.port, type: 5, userId: USER.login, password: USER.password },
      command: 'connect',
      destination: { host: '127.0.0.1', port },
      timeout: 5000,
    });
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    await withTimeout(new Promise((r) => socket.once('end', r)), 3000, 'banner');
    socket.destroy();
    assert.deepEqual(Buffer.concat(chunks), banner);
  } finally {
    server.close();
  }
});

test('HTTP forwarding reads the upstream through its stream: parallel responses, slow readers, no byte mixed up', async () => {
  const size = 4 * MiB;
  const web = createHttpServer((req, res) => {
    const seed = Number(req.url?.split('/')[1]);
    const body = Buffer.allocUnsafe(size);
    for (let k = 0; k < size; k++) body[k] = byteAt(seed, k);
    res.writeHead(200, { 'Content-Length': String(size) });
    res.end(body);
  });
  const webPort = await listen0(web);
  const auth = `Basic ${Buffer.from(`${USER.login}:${USER.password}`).toString('base64')}`;
  const get = (seed: number): Promise<{ bytes: number; bad: number }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: ing.port, path: `http://127.0.0.1:${webPort}/${seed}`, headers: { 'Proxy-Authorization': auth }, agent: false }, (res) => {
        let bytes = 0;
        let bad = 0;
        res.on('data', (d: Buffer) => {
          for (let k = 0; k < d.length; k++) if (d[k] !== byteAt(seed, bytes + k)) bad++;
          bytes += d.length;
          if (seed % 2 === 0 && bytes % MiB < d.length) {
            res.pause();
            setTimeout(() => res.resume(), 30);
          }
        });
        res.once('end', () => resolve({ bytes, bad }));
        res.once('error', reject);
      });
      req.once('error', reject);
      req.end();
    });
  try {
    const results = await withTimeout(Promise.all([41, 42, 43, 44].map(get)), 30_000, 'HTTP downloads');
    for (const r of results) assert.deepEqual(r, { bytes: size, bad: 0 });
  } finally {
    web.close();
  }
});

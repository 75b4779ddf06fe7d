/**
 * Reads into slabs (connectSlabReading, src/shared/net/read-buffers.ts): what an exit uses for
 * a target relayed to a link stream, which keeps every chunk it is written until the link takes
 * it. Memory is never reused, so bytes kept to the end must still be intact; large reads land in
 * slabs of the size asked; a quiet socket holds no slab.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { connectSlabReading, ownBuffersHeld } from '../../src/shared/net/read-buffers.js';
import { listen0 } from '../helpers/ports.js';
import { eventually } from '../helpers/eventually.js';

const MiB = 1024 * 1024;
/** Not a power of two, as an exit's link reads are (16 DATA frames' payload): slabs are what was asked. */
const SLAB = 16 * (16 * 1024 - 9);
const byteAt = (i: number): number => (i * 7 + (i >> 12)) & 0xff;

function pattern(from: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let k = 0; k < n; k++) b[k] = byteAt(from + k);
  return b;
}

async function serverSending(onConn: (s: Socket) => void): Promise<{ port: number; close: () => void }> {
  const server = createServer((s) => {
    s.on('error', () => undefined);
    onConn(s);
  });
  const port = await listen0(server);
  return { port, close: () => server.close() };
}

test('a download read into slabs arrives intact with every chunk kept to the end: no memory is reused', async () => {
  const SIZE = 8 * MiB;
  let sender!: Socket;
  const src = await serverSending((s) => {
    sender = s;
    let sent = 0;
    const pump = (): void => {
      while (sent < SIZE) {
        const n = Math.min(SIZE - sent, 1 + ((sent * 31) % 90_000)); // 1 byte to ~88 KiB
        const chunk = pattern(sent, n);
        sent += n;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
    };
    pump();
  });
  const sock = connectSlabReading({ host: '127.0.0.1', port: src.port }, SLAB);
  sock.pause();
  await once(sock, 'connect');
  try {
    // Let the kernel's buffers fill first: the reads that follow are large.
    await eventually('the sender is backed up', () => sender !== undefined && sender.writableLength > 0);
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.resume();
    await once(sock, 'end');
    const all = Buffer.concat(chunks);
    assert.equal(all.length, SIZE);
    assert.ok(all.equals(pattern(0, SIZE)), 'every byte as sent, though each chunk was kept until the end');
    assert.ok(chunks.some((c) => c.buffer.byteLength === SLAB), 'large reads are views of a slab of the size asked');
    assert.ok(chunks.every((c) => c.length <= SLAB));
  } finally {
    sock.destroy();
    src.close();
  }
  await eventually('no slab held once the socket is closed', () => ownBuffersHeld() === 0);
});

test('a socket that goes quiet holds no slab: a small read drops it', async () => {
  let sender!: Socket;
  const src = await serverSending((s) => (sender = s));
  const sock = connectSlabReading({ host: '127.0.0.1', port: src.port }, SLAB);
  await once(sock, 'connect');
  let got = 0;
  sock.on('data', (d: Buffer) => (got += d.length));
  try {
    await eventually('accepted', () => sender !== undefined);
    sender.write(Buffer.alloc(100, 1));
    await eventually('the small greeting arrived', () => got === 100);
    assert.equal(ownBuffersHeld(), 0, 'small reads go through the shared scratch');
    sender.write(Buffer.alloc(2 * MiB, 2));
    await eventually('the download arrived', () => got === 100 + 2 * MiB);
    sender.write(Buffer.alloc(10, 3));
    await eventually('the last small write arrived', () => got === 110 + 2 * MiB);
    assert.equal(ownBuffersHeld(), 0, 'the small read after the download dropped the slab');
  } finally {
    sock.destroy();
    src.close();
  }
});

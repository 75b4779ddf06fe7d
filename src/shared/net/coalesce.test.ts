import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Socket, type AddressInfo } from 'node:net';
import { COALESCE_LIMIT, writeCoalesced } from './coalesce.js';

const FULL = 16 * 1024 - 9;

async function socketPair(): Promise<{ a: Socket; b: Socket; close: () => void }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const a = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(a, 'connect');
  const [b] = await accepted;
  return { a, b, close: () => (a.destroy(), b.destroy(), server.close()) };
}

function received(s: Socket, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  return new Promise((resolve) => {
    s.on('data', (d: Buffer) => {
      parts.push(d);
      got += d.length;
      if (got >= n) resolve(Buffer.concat(parts));
    });
  });
}

test('pieces of any size wait for the end of the turn and go in one write, in order', async () => {
  const { a, b, close } = await socketPair();
  try {
    // A record cut in two by a shifted frame boundary: sizes say nothing about the burst.
    const pieces = [FULL - 45, 45, FULL - 45, 45, 4].map((n, i) => Buffer.alloc(n, i + 1));
    const total = pieces.reduce((n, p) => n + p.length, 0);
    const all = received(b, total);
    let writes = 0;
    const own = a as unknown as { _writev: (...x: unknown[]) => void };
    const orig = own._writev.bind(a);
    own._writev = (...x: unknown[]) => (writes++, orig(...x));
    for (const p of pieces) assert.equal(writeCoalesced(a, p), true);
    assert.equal(a.writableLength, total, 'held (corked) while the turn goes on');
    await new Promise((r) => setImmediate(r));
    assert.equal(a.writableLength, 0, 'sent by the end of this turn of the event loop');
    assert.equal(writes, 1, 'one writev for the burst');
    assert.deepEqual(await all, Buffer.concat(pieces));
  } finally {
    close();
  }
});

test('a lone small write (an echo) is not held: it is out before writeCoalesced returns', async () => {
  const { a, b, close } = await socketPair();
  try {
    const got = received(b, 64);
    assert.equal(writeCoalesced(a, Buffer.alloc(64, 1)), true);
    assert.equal(a.writableLength, 0, 'handed to the kernel at once');
    assert.equal((await got).length, 64);
    // Behind gathered pieces, a small one waits with them (order is kept) and the turn's end sends all.
    const more = received(b, FULL + 10);
    writeCoalesced(a, Buffer.alloc(FULL, 2));
    writeCoalesced(a, Buffer.alloc(10, 3));
    assert.equal(a.writableLength, FULL + 10);
    await new Promise((r) => setImmediate(r));
    assert.equal(a.writableLength, 0);
    assert.equal((await more).length, FULL + 10);
  } finally {
    close();
  }
});

test('a read’s worth gathered goes at once; a reader that does not keep up makes the writer wait, and drain follows', async () => {
  const { a, b, close } = await socketPair();
  try {
    const below = Math.ceil(COALESCE_LIMIT / FULL) - 1;
    for (let i = 0; i < below; i++) writeCoalesced(a, Buffer.alloc(FULL));
    assert.equal(a.writableLength, below * FULL, 'pieces below the limit: held');
    assert.equal(writeCoalesced(a, Buffer.alloc(FULL)), true, 'the next passes the limit: all go, the writer goes on');
    assert.equal(a.writableLength, 0);
    // The other end stops reading: once the kernel's buffers are full, the writer is told to wait.
    b.pause();
    let n = 0;
    while (writeCoalesced(a, Buffer.alloc(FULL))) assert.ok(++n < 10_000, 'bounded: the writer is told to wait');
    assert.ok(a.writableLength >= COALESCE_LIMIT);
    b.resume();
    await once(a, 'drain');
  } finally {
    close();
  }
});

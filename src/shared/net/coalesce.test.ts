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

test('full pieces wait for the end of their burst; a smaller one sends them and itself at once, in order', async () => {
  const { a, b, close } = await socketPair();
  try {
    const pieces = [1, 2, 3].map((i) => Buffer.alloc(FULL, i));
    const tail = Buffer.from('tail');
    const all = received(b, 3 * FULL + tail.length);
    for (const p of pieces) assert.equal(writeCoalesced(a, p, FULL), true);
    assert.equal(a.writableLength, 3 * FULL, 'held (corked) while the burst goes on');
    assert.equal(writeCoalesced(a, tail, FULL), true);
    assert.equal(a.writableLength, 0, 'the small piece flushed the burst with it, synchronously');
    assert.deepEqual(await all, Buffer.concat([...pieces, tail]));
  } finally {
    close();
  }
});

test('a burst of only full pieces goes at the end of the turn; a lone small write is never held', async () => {
  const { a, b, close } = await socketPair();
  try {
    const got = received(b, 2 * FULL);
    writeCoalesced(a, Buffer.alloc(FULL, 7), FULL);
    writeCoalesced(a, Buffer.alloc(FULL, 8), FULL);
    assert.equal(a.writableLength, 2 * FULL);
    await new Promise((r) => setImmediate(r));
    assert.equal(a.writableLength, 0, 'sent by the end of this turn of the event loop');
    assert.equal((await got).length, 2 * FULL);
    // An echo: 64 bytes, nothing gathered: out before writeCoalesced returns.
    assert.equal(writeCoalesced(a, Buffer.alloc(64, 1), FULL), true);
    assert.equal(a.writableLength, 0);
  } finally {
    close();
  }
});

test('a read’s worth gathered goes at once; a reader that does not keep up makes the writer wait, and drain follows', async () => {
  const { a, b, close } = await socketPair();
  try {
    for (let i = 0; i < 4; i++) writeCoalesced(a, Buffer.alloc(FULL), FULL);
    assert.equal(a.writableLength, 4 * FULL, 'four pieces are below the limit: held');
    assert.equal(writeCoalesced(a, Buffer.alloc(FULL), FULL), true, 'the fifth passes the limit: all five go, the writer goes on');
    assert.equal(a.writableLength, 0);
    // The other end stops reading: once the kernel's buffers are full, the writer is told to wait.
    b.pause();
    let n = 0;
    while (writeCoalesced(a, Buffer.alloc(FULL), FULL)) assert.ok(++n < 10_000, 'bounded: the writer is told to wait');
    assert.ok(a.writableLength >= COALESCE_LIMIT);
    b.resume();
    await once(a, 'drain');
  } finally {
    close();
  }
});

/**
 * How a link sends bulk and small writes (issue 19, docs/BENCHMARKS.md "Link bulk and echo"):
 * full DATA frames that fill one TLS record each, writes taken without pausing the writer per
 * chunk, and a small write on the wire before the event loop turns. Asserted by what the
 * session does (frames a raw peer sees, write() results, counters after one tick), not by timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { dataHeader, HEADER_BYTES, openFrame, PREFACE, RECORD_DATA_PAYLOAD } from '../../src/protocol/link/codec.js';
import { relay } from '../../src/ingress/relay/relay.js';
import { relayStream } from '../../src/exit/relay-stream.js';
import { LinkSession } from '../../src/link/session.js';
import { dialLinkTls } from '../../src/link/identity.js';
import type { LinkStream } from '../../src/link/stream.js';
import { exitServer, identities, linkPair, rawPeer } from '../helpers/link-pair.js';
import { eventually } from '../helpers/eventually.js';
import { listen0 } from '../helpers/ports.js';

const RECORD = 16 * 1024;

test('bulk: 64 KiB writes are taken without backpressure and leave as DATA frames of exactly one TLS record each', async () => {
  const CHUNK = 64 * 1024;
  const CHUNKS = 4;
  let session!: LinkSession;
  const results: boolean[] = [];
  const { server, port } = await exitServer({}, (s) => {
    session = s;
    s.on('stream', (st: LinkStream) => {
      st.on('error', () => undefined);
      st.accept();
      // As a relay does with its target's reads: several 64 KiB chunks in one go.
      for (let i = 0; i < CHUNKS; i++) results.push(st.write(Buffer.alloc(CHUNK, i + 1)));
    });
  });
  const peer = await rawPeer(port);
  // The raw bytes too: the reader hands DATA on in pieces as TLS records arrive, the headers say the frame sizes.
  const raw: Buffer[] = [];
  peer.socket.on('data', (d: Buffer) => raw.push(d));
  try {
    peer.socket.write(Buffer.concat([PREFACE, openFrame(1, { host: '127.0.0.1', port: 9, window: 4 * 1024 * 1024 })]));
    const data = (): Buffer[] => peer.frames.flatMap((f) => (f.type === 'data' ? [f.data] : []));
    await eventually('all the bytes at the peer', () => data().reduce((n, d) => n + d.length, 0) === CHUNK * CHUNKS);
    // Below the stream's send buffer (256 KiB): the writer was never told to wait, so a relay keeps reading its target.
    assert.deepEqual(results, [true, true, true, false], 'write() is false only once 256 KiB wait');
    const bytes = Buffer.concat(raw);
    const sizes: number[] = [];
    for (let at = PREFACE.length; at + HEADER_BYTES <= bytes.length; at += HEADER_BYTES + bytes.readUInt32BE(at + 5)) {
      if (bytes[at] === 3) sizes.push(bytes.readUInt32BE(at + 5));
    }
    // Frames span the writer's chunks: every one but the last fills a TLS record (header + payload = 16 KiB), no 64 KiB
    // frames cut by records into pieces and 9-byte slivers, no short frame at each chunk's end.
    for (const n of sizes.slice(0, -1)) assert.equal(n + HEADER_BYTES, RECORD, `frame sizes ${sizes.join(',')}`);
    assert.equal(sizes.length, Math.ceil((CHUNK * CHUNKS) / (RECORD - HEADER_BYTES)));
    // And the bytes are the writer's, in order.
    const all = Buffer.concat(data());
    for (let i = 0; i < CHUNKS; i++) assert.ok(all.subarray(i * CHUNK, (i + 1) * CHUNK).every((b) => b === i + 1), `chunk ${i} intact`);
    assert.equal(session.bytesSent, CHUNK * CHUNKS);
  } finally {
    peer.socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('window updates are batched: a reader that keeps up returns credit once per half window, not once per DATA frame', async () => {
  const TOTAL = 1024 * 1024;
  let received = 0;
  const { server, port } = await exitServer({}, (s) => {
    s.on('stream', (st: LinkStream) => {
      st.on('error', () => undefined);
      st.accept();
      st.on('data', (d: Buffer) => (received += d.length)); // keeps up: reads every byte as it comes
    });
  });
  const peer = await rawPeer(port);
  try {
    peer.socket.write(Buffer.concat([PREFACE, openFrame(1, { host: '127.0.0.1', port: 9, window: 65536 })]));
    await eventually('the open answered', () => peer.frames.some((f) => f.type === 'open-ok'));
    const ok = peer.frames.find((f) => f.type === 'open-ok');
    let credit = Number(ok?.type === 'open-ok' ? ok.props.get('window') : 0);
    const window0 = credit;
    let sent = 0;
    let frames = 0;
    let seen = 0;
    // Send within the credit the session gives, as a well-behaved peer does, until a MiB has crossed.
    for (let turns = 0; sent < TOTAL; turns++) {
      assert.ok(turns < 10_000, 'bounded');
      for (; seen < peer.frames.length; seen++) {
        const f = peer.frames[seen]!;
        if (f.type === 'window') credit += f.increment;
      }
      const n = Math.min(RECORD_DATA_PAYLOAD, credit, TOTAL - sent);
      if (n === 0) {
        await eventually('more credit', () => peer.frames.length > seen);
        continue;
      }
      peer.socket.write(Buffer.concat([dataHeader(1, n), Buffer.alloc(n, 7)]));
      credit -= n;
      sent += n;
      frames++;
    }
    await eventually('every byte read', () => received === TOTAL);
    const updates = peer.frames.filter((f) => f.type === 'window').length;
    // An update returns half a window (windows only grow), or follows the peer spending all its credit, which takes
    // at least that much since the previous one: at most 2 × 1 MiB / 128 KiB = 16, against 65 DATA frames.
    assert.ok(updates >= 1 && updates <= (2 * TOTAL) / (window0 / 2), `${updates} WINDOW frames for ${frames} DATA frames (window ${window0})`);
    assert.ok(frames > 4 * updates);
  } finally {
    peer.socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('echo: a small write is handed to TLS within the same tick, before any timer or immediate runs', async () => {
  const pair = await linkPair();
  try {
    pair.server.on('stream', (s) => {
      s.on('error', () => undefined);
      s.accept();
      s.pipe(s);
    });
    const s = await pair.client.open('127.0.0.1', 7);
    s.on('error', () => undefined);
    const before = pair.client.bytesSent;
    let immediateRan = false;
    setImmediate(() => (immediateRan = true));
    s.write(Buffer.alloc(64, 0x61));
    // The session flushes on process.nextTick, queued by the write: this tick callback runs after it.
    await new Promise<void>((r) => process.nextTick(r));
    assert.equal(immediateRan, false, 'still the same turn of the event loop');
    assert.equal(pair.client.bytesSent - before, 64, 'the 64 bytes went to the TLS socket without waiting for a batch');
    // And the echo comes back whole.
    const back = await new Promise<Buffer>((r) => s.once('data', r));
    assert.equal(back.length, 64);
    s.destroy();
  } finally {
    await pair.close();
  }
});

/** A connected loopback TCP pair: `near` is written by the relay, `far` reads what arrives. */
async function tcpPair(): Promise<{ near: Socket; far: Socket; close: () => void }> {
  const server = createServer();
  const port = await listen0(server);
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const near = connect(port, '127.0.0.1');
  await once(near, 'connect');
  const [far] = await accepted;
  return { near, far, close: () => (near.destroy(), far.destroy(), server.close()) };
}

/** Calls of the socket's own write paths: one per send to the kernel when it keeps up. */
function countWrites(s: Socket): () => number {
  let n = 0;
  const own = s as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  for (const k of ['_write', '_writev'] as const) {
    const orig = own[k].bind(s);
    own[k] = (...a: unknown[]) => (n++, orig(...a));
  }
  return () => n;
}

/**
 * The wiring of shared/net/coalesce.ts: pieces a link stream hands on in one burst (what the session
 * passes on as TLS records arrive) reach the ingress's client and the exit's target in one write, not
 * one write each. Driven through the stream's own entry for DATA, so the burst is exact.
 */
async function assertOneWritePerBurst(sizes: readonly number[]): Promise<void> {
  const pair = await linkPair();
  const exitSide: LinkStream[] = [];
  pair.server.on('stream', (s: LinkStream) => {
    s.on('error', () => undefined);
    s.accept();
    exitSide.push(s);
  });
  const tcp = [await tcpPair(), await tcpPair()];
  try {
    // The ingress: a stream as the upstream of a customer's relay.
    const up = await pair.client.open('127.0.0.1', 9);
    up.on('error', () => undefined);
    const [client, target] = tcp as [Awaited<ReturnType<typeof tcpPair>>, Awaited<ReturnType<typeof tcpPair>>];
    relay(client.near, up as unknown as Socket, { up: 0, down: 0 }, 60_000, () => undefined);
    // The exit: the stream relayed to its target.
    await eventually('the exit side took the stream', () => exitSide.length === 1);
    relayStream(exitSide[0]!, target.near, 60_000);
    const total = sizes.reduce((a, b) => a + b, 0);
    for (const [stream, dst] of [[up, client], [exitSide[0]!, target]] as const) {
      const writes = countWrites(dst.near);
      const got: Buffer[] = [];
      dst.far.on('data', (d: Buffer) => got.push(d));
      const pieces = sizes.map((n, i) => Buffer.alloc(n, i + 1));
      for (const p of pieces) assert.equal(stream.onData(p), undefined);
      await eventually('every piece arrived', () => got.reduce((n, d) => n + d.length, 0) === total);
      assert.equal(writes(), 1, `pieces of ${sizes.join(', ')} bytes in one burst: one write, not one per piece`);
      assert.deepEqual(Buffer.concat(got), Buffer.concat(pieces));
    }
  } finally {
    for (const t of tcp) t.close();
    await pair.close();
  }
}

test('relays: a link stream\'s burst of record-sized pieces goes to the client (ingress) and the target (exit) in one write', async () => {
  await assertOneWritePerBurst([RECORD_DATA_PAYLOAD, RECORD_DATA_PAYLOAD, RECORD_DATA_PAYLOAD]);
});

/**
 * A control frame or a short write ahead of the DATA in one TLS write shifts every frame off the record
 * boundaries: the pieces then arrive as a record's worth cut in two (a frame's tail, the next one's head).
 * Seen in a trace of a link download: two sends to the client per 16 KiB record. The burst must still be
 * one write: what ends it is the turn of the event loop, not the size of a piece.
 */
test('relays: a burst of pieces cut off the record boundaries still goes to the client (ingress) and the target (exit) in one write', async () => {
  const SHIFT = 45;
  await assertOneWritePerBurst([RECORD_DATA_PAYLOAD - SHIFT, SHIFT, RECORD_DATA_PAYLOAD - SHIFT, SHIFT, RECORD_DATA_PAYLOAD - SHIFT]);
});

/** A TCP forwarder that counts what crosses it, each way: the link's TLS connection as the wire sees it. */
async function wireTap(to: number): Promise<{ port: number; up: number[]; down: number[]; close: () => void }> {
  const up: number[] = [];
  const down: number[] = [];
  const socks: Socket[] = [];
  const server = createServer((a) => {
    const b = connect(to, '127.0.0.1');
    for (const s of [a, b]) s.setNoDelay(true).on('error', () => undefined);
    socks.push(a, b);
    a.on('data', (d: Buffer) => (up.push(d.length), b.write(d)));
    b.on('data', (d: Buffer) => (down.push(d.length), a.write(d)));
  });
  const port = await listen0(server);
  return { port, up, down, close: () => (socks.forEach((s) => s.destroy()), server.close()) };
}

/** A 64 B message in one TLS 1.3 record: record header 5 + DATA header + payload + content type 1 + AEAD tag 16. */
const ECHO_RECORD = 5 + HEADER_BYTES + 64 + 1 + 16;

/**
 * The whole per-message path of a link, as an echo crosses it (issue 19's echo target): the ingress's
 * relay reads its client and writes a link stream, the exit's relay writes the target; and back.
 * Counted, not timed: per 64 B message one write to the target, one TLS record each way (no header
 * in a record of its own, no WINDOW frame, no second send), one write to the client.
 * docs/BENCHMARKS.md, "64 B echo through a link".
 */
test('echo through the link path: per message one write to the target, one TLS record each way, one write to the client', async () => {
  const { ingress, exit } = identities();
  let exitSession!: LinkSession;
  const exitSide: LinkStream[] = [];
  const listening = await exitServer({}, (s) => {
    exitSession = s;
    s.on('stream', (st: LinkStream) => {
      st.on('error', () => undefined);
      st.accept();
      exitSide.push(st);
    });
  });
  const tap = await wireTap(listening.port);
  const sock = await dialLinkTls({ host: '127.0.0.1', port: tap.port, identity: ingress, pinned: [exit.fingerprint] });
  const session = new LinkSession(sock, { dialled: true, name: 'ingress side' });
  const [client, target] = [await tcpPair(), await tcpPair()];
  try {
    const up = await session.open('127.0.0.1', 9);
    up.on('error', () => undefined);
    relay(client.near, up as unknown as Socket, { up: 0, down: 0 }, 60_000, () => undefined);
    await eventually('the exit side took the stream', () => exitSide.length === 1);
    relayStream(exitSide[0]!, target.near, 60_000);
    target.far.on('data', (d: Buffer) => target.far.write(d)); // the target echoes
    const toClient = countWrites(client.near);
    const toTarget = countWrites(target.near);
    const echo = async (i: number): Promise<void> => {
      const back = new Promise<Buffer>((r) => client.far.once('data', r));
      client.far.write(Buffer.alloc(64, i));
      assert.deepEqual(await back, Buffer.alloc(64, i));
    };
    await echo(0); // and the TLS handshake's tail (session tickets) is through
    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
    const ECHOES = 20;
    const at = { up: tap.up.length, down: tap.down.length, upB: sum(tap.up), downB: sum(tap.down), client: toClient(), target: toTarget() };
    for (let i = 1; i <= ECHOES; i++) await echo(i); // the tap counts a record before it passes it on: all counted by now
    assert.equal(sum(tap.up) - at.upB, ECHOES * ECHO_RECORD, `ingress → exit: ${tap.up.slice(at.up).join(',')} bytes`);
    assert.equal(sum(tap.down) - at.downB, ECHOES * ECHO_RECORD, `exit → ingress: ${tap.down.slice(at.down).join(',')} bytes`);
    assert.equal(tap.up.length - at.up, ECHOES, 'one send per message, ingress → exit');
    assert.equal(tap.down.length - at.down, ECHOES, 'one send per message, exit → ingress');
    assert.equal(toTarget() - at.target, ECHOES, 'one write to the target per message');
    assert.equal(toClient() - at.client, ECHOES, 'one write to the client per message');
    assert.equal(exitSession.bytesSent, session.bytesSent);
  } finally {
    for (const t of [client, target]) t.close();
    session.destroy();
    tap.close();
    await new Promise<void>((r) => listening.server.close(() => r()));
  }
});

test('the memory bound counts what a stream holds exactly once, also while the link has carried part of a batch', async () => {
  // A window that ends inside the writer's second chunk: that batch is half sent when credit runs out.
  const WINDOW = 20_000;
  const CHUNK = 16 * 1024;
  const pair = await linkPair({ window: WINDOW, maxWindow: WINDOW }, { window: WINDOW, maxWindow: WINDOW });
  try {
    let exitSide!: LinkStream;
    pair.server.on('stream', (s: LinkStream) => {
      s.on('error', () => undefined);
      s.accept();
      exitSide = s;
      for (let i = 0; i < 3; i++) s.write(Buffer.alloc(CHUNK, i + 1));
    });
    const s = await pair.client.open('127.0.0.1', 9);
    s.on('error', () => undefined);
    s.pause(); // never read: exactly one window crosses
    await eventually('one window at the reader', () => s.readableLength === WINDOW);
    assert.equal(pair.server.bytesSent, WINDOW);
    assert.equal(exitSide.bufferedBytes, 3 * CHUNK - WINDOW, 'written, less what the link carried');
    assert.equal(pair.client.bufferedBytes, WINDOW);
  } finally {
    await pair.close();
  }
});

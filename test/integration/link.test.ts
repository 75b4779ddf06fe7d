/**
 * Links (src/link/): many streams over one mutually authenticated TLS
 * connection on loopback, driven through the real sessions, and a raw peer
 * that writes frames by hand to play a hostile one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { dataHeader, datagramFrame, finFrame, openFrame, PREFACE, windowFrame, type Frame } from '../../src/protocol/link/codec.js';
import { LinkError } from '../../src/link/errors.js';
import { dialLinkTls, linkTlsServer, createLinkIdentity } from '../../src/link/identity.js';
import type { LinkSession } from '../../src/link/session.js';
import type { LinkStream } from '../../src/link/stream.js';
import { exitServer, identities, linkPair, rawPeer } from '../helpers/link-pair.js';
import { eventually } from '../helpers/eventually.js';
import { listen0, withTimeout } from '../helpers/net.js';

function echo(server: LinkSession): void {
  server.on('stream', (s) => {
    s.on('error', () => undefined);
    s.accept('127.0.0.1:40000');
    s.pipe(s);
  });
}

function readAll(s: Duplex): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  return once(s, 'end').then(() => Buffer.concat(parts));
}

async function linkError(p: Promise<unknown>): Promise<LinkError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof LinkError, `expected a LinkError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

test('a stream carries the target and context to the exit, echoes, and a refusal arrives with its exact result code', async () => {
  const pair = await linkPair();
  try {
    const seen: { host: string; port: number; purpose: string | undefined }[] = [];
    pair.server.on('stream', (s, req) => {
      seen.push({ host: req.host, port: req.port, purpose: req.context.get('purpose') });
      if (req.port === 25) return s.refuse('TARGET_FORBIDDEN', 'port 25 is not allowed');
      s.accept();
      s.pipe(s);
    });
    const s = await pair.client.open('example.com', 443, { purpose: 'connect' });
    const got = readAll(s);
    s.end('ping');
    assert.equal((await got).toString(), 'ping');
    const refused = await linkError(pair.client.open('10.1.2.3', 25));
    assert.equal(refused.code, 'OPEN_REFUSED');
    assert.equal(refused.result, 'TARGET_FORBIDDEN');
    assert.match(refused.message, /port 25 is not allowed/);
    assert.deepEqual(seen, [
      { host: 'example.com', port: 443, purpose: 'connect' },
      { host: '10.1.2.3', port: 25, purpose: undefined },
    ]);
  } finally {
    await pair.close();
  }
});

test('1,000 streams on one link with one reader stalled: the others all finish, and the stalled one holds at most its window', async () => {
  const WINDOW = 64 * 1024;
  const PER_STREAM = 128 * 1024;
  // A send buffer below what the stalled stream's writer has left (PER_STREAM - WINDOW), so that writer must see backpressure.
  const pair = await linkPair({ window: WINDOW, sendBuffer: 32 * 1024 }, { window: WINDOW, sendBuffer: 32 * 1024 });
  try {
    const serverStreams: LinkStream[] = [];
    /** Bytes each exit-side writer has handed to its stream so far. */
    const written = new Map<LinkStream, number>();
    pair.server.on('stream', (s) => {
      s.on('error', () => undefined);
      s.accept();
      serverStreams.push(s);
      // The exit side writes PER_STREAM bytes, honouring backpressure like a real relay.
      const chunk = Buffer.alloc(16 * 1024, 0x71);
      let sent = 0;
      const pump = (): void => {
        while (sent < PER_STREAM) {
          sent += chunk.length;
          written.set(s, sent);
          if (!s.write(chunk)) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
    const streams = await Promise.all(Array.from({ length: 1000 }, () => pair.client.open('127.0.0.1', 9)));
    for (const s of streams) s.on('error', (e) => assert.fail(`stream ${s.id}: ${e.message}`));
    const [stalled, ...others] = streams;
    stalled!.pause(); // never read
    const t0 = performance.now();
    const lengths = await withTimeout(Promise.all(others.map((s) => readAll(s).then((b) => b.length))), 60_000, 'the 999 flowing streams');
    const elapsed = performance.now() - t0;
    assert.ok(lengths.every((n) => n === PER_STREAM), 'every flowing stream got all its bytes');
    // The stalled stream: exactly one window crossed the link and waits in the client; the rest waits at the exit, unsent.
    assert.equal(stalled!.readableLength, WINDOW);
    assert.ok(pair.client.bufferedBytes <= WINDOW, `client side buffers ${pair.client.bufferedBytes} bytes, window ${WINDOW}`);
    const stalledAtExit = serverStreams[0]!;
    assert.ok(stalledAtExit.bufferedBytes <= PER_STREAM - WINDOW, `exit side holds ${stalledAtExit.bufferedBytes}`);
    // Exactly what its writer handed over and the link has not carried (one window crossed): none counted twice, none missed.
    assert.equal(stalledAtExit.bufferedBytes, written.get(stalledAtExit)! - WINDOW);
    assert.ok(stalledAtExit.writableNeedDrain, 'the exit-side writer saw backpressure');
    // Observability (issue 19 item 5): the payload bytes each way, and the sender's window stalls.
    assert.equal(pair.server.bytesSent, 999 * PER_STREAM + WINDOW);
    assert.equal(pair.client.bytesReceived, pair.server.bytesSent);
    assert.ok(pair.server.windowStalls >= 1, `exit side counted ${pair.server.windowStalls} window stalls`);
    assert.equal(pair.client.windowStalls, 0, 'the side that sent nothing never waited for credit');
    // And it resumes: reading it now drains the rest.
    const rest = readAll(stalled!);
    stalled!.resume();
    assert.equal((await withTimeout(rest, 10_000, 'the stalled stream once read')).length, PER_STREAM);
    // Each side ends: every stream closes cleanly and the link forgets it.
    await withTimeout(Promise.all(streams.map((s) => (s.end(), once(s, 'close')))), 10_000, 'all streams closing');
    assert.equal(pair.client.streamCount, 0);
    process.stderr.write(`# 999 streams × ${PER_STREAM / 1024} KiB beside a stalled one: ${elapsed.toFixed(0)} ms\n`);
  } finally {
    await pair.close();
  }
});

test('window autotuning: a reader that keeps up grows its window to the maximum; a stalled one stays at its first window', async () => {
  const WINDOW = 64 * 1024;
  const MAX = 1024 * 1024;
  const TOTAL = 8 * 1024 * 1024;
  const pair = await linkPair({ window: WINDOW, maxWindow: MAX }, { window: WINDOW, maxWindow: MAX });
  try {
    pair.server.on('stream', (s) => {
      s.on('error', () => undefined);
      s.accept();
      const chunk = Buffer.alloc(64 * 1024, 0x55);
      let sent = 0;
      const pump = (): void => {
        while (sent < TOTAL) {
          sent += chunk.length;
          if (!s.write(chunk)) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
    const [fast, stalled] = await Promise.all([pair.client.open('127.0.0.1', 9), pair.client.open('127.0.0.1', 9)]);
    for (const s of [fast, stalled]) s.on('error', () => undefined); // cut when the pair closes
    stalled.pause();
    assert.equal((await withTimeout(readAll(fast), 30_000, 'the fast reader')).length, TOTAL);
    assert.equal(fast.receiveWindow, MAX, 'doubled up to the maximum');
    await eventually('the stalled stream to fill its window', () => stalled.readableLength === WINDOW);
    assert.equal(stalled.receiveWindow, WINDOW, 'a reader that never kept up never grew');
    assert.ok(pair.client.bufferedBytes <= WINDOW, `client side holds ${pair.client.bufferedBytes} bytes`);
    stalled.destroy();
  } finally {
    await pair.close();
  }
});

test('half-close per stream: the client ends its side, the exit still writes, then ends its own', async () => {
  const pair = await linkPair();
  try {
    pair.server.on('stream', (s) => {
      s.accept();
      const parts: Buffer[] = [];
      s.on('data', (d: Buffer) => parts.push(d));
      // Only after the client's FIN does the exit answer: the stream is half-closed meanwhile.
      s.on('end', () => {
        s.write(`got ${Buffer.concat(parts).toString()}; `);
        setTimeout(() => s.end('bye'), 50);
      });
    });
    const s = await pair.client.open('127.0.0.1', 80);
    const other = await pair.client.open('127.0.0.1', 81);
    const got = readAll(s);
    const closed = once(s, 'close');
    s.end('request');
    assert.equal((await got).toString(), 'got request; bye');
    await closed;
    // The other stream was not touched by this one's half-close.
    const otherGot = readAll(other);
    other.end('two');
    assert.equal((await otherGot).toString(), 'got two; bye');
  } finally {
    await pair.close();
  }
});

test('a reset of one stream reaches the exit as STREAM_RESET and leaves the others intact', async () => {
  const pair = await linkPair();
  try {
    const atExit: LinkStream[] = [];
    pair.server.on('stream', (s) => {
      atExit.push(s);
      s.on('error', () => undefined);
      s.accept();
      s.pipe(s);
    });
    const a = await pair.client.open('127.0.0.1', 1);
    const b = await pair.client.open('127.0.0.1', 2);
    const aError = once(atExit[0]!, 'error');
    a.destroy();
    const [err] = (await aError) as [LinkError];
    assert.equal(err.code, 'STREAM_RESET');
    assert.equal(err.result, 'CANCEL');
    const got = readAll(b);
    b.end('still here');
    assert.equal((await got).toString(), 'still here');
    assert.equal(pair.client.broken, undefined);
  } finally {
    await pair.close();
  }
});

test('a broken link fails all its streams with LINK_BROKEN, and new opens are refused with it', async () => {
  const pair = await linkPair();
  try {
    echo(pair.server);
    const streams = await Promise.all([1, 2, 3].map((p) => pair.client.open('127.0.0.1', p)));
    const errors = streams.map((s) => once(s, 'error').then(([e]) => e as LinkError));
    const closed = once(pair.client, 'close');
    // The TLS connection dies under the link (as when the exit's host goes away).
    (pair.server as unknown as { socket: Duplex }).socket.destroy();
    for (const e of await withTimeout(Promise.all(errors), 5000, 'stream errors')) {
      assert.equal(e.code, 'LINK_BROKEN');
      assert.match(e.message, /ingress side: link broken: (connection closed|peer closed the connection|connection error)/);
    }
    const [closeErr] = (await closed) as [LinkError];
    assert.equal(closeErr.code, 'LINK_BROKEN');
    assert.equal((await linkError(pair.client.open('127.0.0.1', 4))).code, 'LINK_BROKEN');
  } finally {
    await pair.close();
  }
});

test('drain (GOAWAY): no new streams either way, the live one finishes, then the link closes cleanly', async () => {
  const pair = await linkPair();
  try {
    pair.server.on('stream', (s) => {
      s.accept();
      s.pipe(s);
    });
    const live = await pair.client.open('127.0.0.1', 1);
    const goaway = once(pair.client, 'goaway');
    pair.server.drain('reload');
    await goaway;
    const refused = await linkError(pair.client.open('127.0.0.1', 2));
    assert.equal(refused.code, 'LINK_DRAINING');
    assert.equal((await linkError(pair.server.open('127.0.0.1', 3))).code, 'LINK_DRAINING');
    const closes = [once(pair.client, 'close'), once(pair.server, 'close')];
    const got = readAll(live);
    live.write('first ');
    await new Promise((r) => setTimeout(r, 50));
    live.end('last');
    assert.equal((await got).toString(), 'first last');
    const [[clientErr], [serverErr]] = (await withTimeout(Promise.all(closes), 5000, 'both sides closing')) as [[unknown], [unknown]];
    assert.equal(clientErr, undefined);
    assert.equal(serverErr, undefined);
  } finally {
    await pair.close();
  }
});

test('PING measures the round trip; a peer that stops answering heartbeats breaks the link', async () => {
  const pair = await linkPair();
  try {
    const rtt = await pair.client.ping();
    assert.ok(rtt > 0 && rtt < 2000, `rtt ${rtt} ms`);
    assert.equal(pair.client.rttMs, rtt);
  } finally {
    await pair.close();
  }
  // A peer that says the preface and then nothing: heartbeats go unanswered.
  let session!: LinkSession;
  const { server, port } = await exitServer({ heartbeatMs: 100 }, (s) => (session = s));
  const peer = await rawPeer(port);
  try {
    peer.socket.write(PREFACE);
    await new Promise((r) => setTimeout(r, 50));
    const [err] = (await withTimeout(once(session, 'close'), 3000, 'heartbeat failure')) as [LinkError];
    assert.match(err.message, /no heartbeat answer for 200 ms/);
    assert.ok(peer.frames.some((f) => f.type === 'ping' && !f.ack), 'the session did send PINGs');
  } finally {
    peer.socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('the stream limit is enforced on both sides with a clear error', async () => {
  const pair = await linkPair({ maxStreams: 2 }, { maxStreams: 1 });
  try {
    echo(pair.server);
    const first = await pair.client.open('127.0.0.1', 1);
    first.on('error', () => undefined); // pair.close() breaks the link under it
    // The exit is at its limit: it refuses with CONN_LIMIT.
    const atExit = await linkError(pair.client.open('127.0.0.1', 2));
    assert.equal(atExit.code, 'OPEN_REFUSED');
    assert.equal(atExit.result, 'CONN_LIMIT');
    assert.match(atExit.message, /limit of 1 streams/);
    // The ingress is at its own limit while one open is in flight: the next is refused at once, locally.
    const inFlight = linkError(pair.client.open('127.0.0.1', 3));
    const local = await linkError(pair.client.open('127.0.0.1', 4));
    assert.equal(local.code, 'STREAM_LIMIT');
    assert.match(local.message, /ingress side: at its limit of 2 streams/);
    assert.equal((await inFlight).result, 'CONN_LIMIT');
  } finally {
    await pair.close();
  }
});

/** Send raw bytes after the preface; return the session's close error and the GOAWAY it sent. */
async function hostile(bytes: (streamWindow: number) => Buffer[]): Promise<{ err: LinkError; goaway: Frame | undefined }> {
  const WINDOW = 1024;
  let session!: LinkSession;
  const { server, port } = await exitServer({ window: WINDOW }, (s) => {
    session = s;
    s.on('stream', (st) => {
      st.on('error', () => undefined);
      st.accept();
    });
  });
  const peer = await rawPeer(port);
  try {
    peer.socket.write(PREFACE);
    for (const b of bytes(WINDOW)) {
      peer.socket.write(b);
      await new Promise((r) => setTimeout(r, 20));
    }
    await withTimeout(peer.closed, 5000, 'the session closing the connection');
    // fail() records the error before it emits 'close': by now it is there, or about to be.
    const err = session.broken ?? ((await withTimeout(once(session, 'close'), 5000, 'the session closing')) as [LinkError])[0];
    return { err, goaway: peer.frames.find((f) => f.type === 'goaway') };
  } finally {
    peer.socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

test('hostile peer: an oversized frame, a frame for an unknown stream, a window overflow each break the link with a GOAWAY saying why', async () => {
  const oversized = Buffer.from([3, 0, 0, 0, 1, 0x7f, 0, 0, 0]);
  const open = openFrame(1, { host: '127.0.0.1', port: 7, window: 65536 });
  const cases: [string, (w: number) => Buffer[], RegExp][] = [
    ['oversized', () => [oversized], /link frame too large \(2130706432 bytes, limit 65536\)/],
    ['unknown stream', () => [Buffer.concat([dataHeader(99, 1), Buffer.from('x')])], /frame for unknown stream 99/],
    ['window overflow', (w) => [open, Buffer.concat([dataHeader(1, w), Buffer.alloc(w)]), Buffer.concat([dataHeader(1, 1), Buffer.from('x')])], /stream 1 window overflow \(1 bytes, 0 allowed\)/],
    ['credit overflow', () => [open, windowFrame(1, 0x7fffffff)], /stream 1 window overflow \(credit past 2\^31-1\)/],
    ['data after fin', () => [open, finFrame(1), Buffer.concat([dataHeader(1, 1), Buffer.from('x')])], /DATA on stream 1 after its FIN/],
    ['stream id reused', () => [open, open], /stream id 1 reused/],
    ['datagram on a TCP stream', () => [open, datagramFrame(1, { host: '127.0.0.1', port: 7 }, Buffer.from('x'))], /DATAGRAM on stream 1, which is not an open UDP stream/],
    ['datagram after fin', () => [openFrame(1, { kind: 'udp', window: 65536 }), finFrame(1), datagramFrame(1, { host: '127.0.0.1', port: 7 }, Buffer.from('x'))], /DATAGRAM on stream 1 after its FIN/],
  ];
  for (const [name, bytes, reason] of cases) {
    const { err, goaway } = await hostile(bytes);
    assert.equal(err.code, 'LINK_BROKEN', name);
    assert.match(err.message, reason, name);
    assert.ok(goaway && goaway.type === 'goaway', `${name}: GOAWAY sent`);
    assert.match(goaway.props.get('message') ?? '', reason, name);
  }
});

test('mTLS: a wrong pin on either side is refused; so is a client without a certificate', async () => {
  const { ingress, exit } = identities();
  const stranger = createLinkIdentity('stranger');
  const refusals: string[] = [];
  const accepted: TLSSocket[] = [];
  const server = linkTlsServer({ identity: exit, pinned: [ingress.fingerprint], onRefused: (why) => refusals.push(why) }, (s) => accepted.push(s));
  const port = await listen0(server);
  try {
    // The ingress expects another exit: it refuses before sending a byte.
    await assert.rejects(dialLinkTls({ host: '127.0.0.1', port, identity: ingress, pinned: [stranger.fingerprint] }), /refused: the peer's certificate [0-9A-F:]+ is not pinned/);
    // The exit does not know this client: it closes the connection.
    const sock = await dialLinkTls({ host: '127.0.0.1', port, identity: stranger, pinned: [exit.fingerprint] }).catch((e: Error) => e);
    if (!(sock instanceof Error)) await once(sock, 'close');
    // (The first client's own refusal may show here too, as a hang-up during the handshake.)
    const pin = await eventually('the server refusing', () => refusals.find((r) => r.includes('not pinned')));
    assert.match(pin, /the peer's certificate [0-9A-F:]+ is not pinned/);
    assert.ok(pin.includes(stranger.fingerprint), pin);
    // No certificate at all.
    const bare = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
    bare.on('error', () => undefined);
    await once(bare, 'close');
    assert.ok(refusals.includes('the peer presented no certificate'), refusals.join('; '));
    assert.ok(accepted.every((a) => a.getPeerCertificate().fingerprint256 === ingress.fingerprint), 'only the pinned client can be accepted');
  } finally {
    for (const s of accepted) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

/**
 * UDP streams on a link (issue 19): datagrams as DATAGRAM frames, both ways,
 * with their addresses; outside the window and never waited for — a link
 * whose connection is behind drops them (counted) at a bounded queue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { TargetAddress } from '../../src/protocol/address.js';
import { dialLinkTls } from '../../src/link/identity.js';
import { LinkSession, type OpenRequest } from '../../src/link/session.js';
import { DATAGRAM_QUEUE_BYTES, type LinkStream } from '../../src/link/stream.js';
import { exitServer, identities, linkPair } from '../helpers/link-pair.js';
import { eventually } from '../helpers/eventually.js';

test('a UDP stream carries datagrams both ways with their addresses, boundaries kept; the OPEN has its context and no target', async () => {
  const pair = await linkPair();
  try {
    let req: OpenRequest | undefined;
    pair.server.on('stream', (s, r) => {
      req = r;
      s.on('error', () => undefined);
      s.accept('127.0.0.5:40001');
      // Answer each datagram from a made-up source: the port + 1, the payload reversed.
      s.on('datagram', (a: TargetAddress, d: Buffer) => s.sendDatagram({ host: a.host, port: a.port + 1 }, Buffer.from(d).reverse()));
    });
    const s = await pair.client.openDatagrams({ purpose: 'udp' });
    s.on('error', () => undefined);
    assert.deepEqual(req && { kind: req.kind, host: req.host, port: req.port, context: [...req.context] }, { kind: 'udp', host: '', port: 0, context: [['purpose', 'udp']] });
    assert.equal(s.localAddress, '127.0.0.5');
    const got: [string, number, string][] = [];
    s.on('datagram', (a: TargetAddress, d: Buffer) => got.push([a.host, a.port, d.toString()]));
    const sent: [string, number, string][] = [['127.0.0.9', 53, 'abc'], ['::1', 5353, ''], ['dns.example', 853, 'x'.repeat(60_000)], ['127.0.0.9', 53, 'de']];
    for (const [host, port, text] of sent) assert.equal(s.sendDatagram({ host, port }, Buffer.from(text)), true);
    await eventually('all four replies', () => got.length === 4);
    assert.deepEqual(got, sent.map(([h, p, t]) => [h, p + 1, [...t].reverse().join('')]));
    assert.deepEqual(pair.client.datagrams, { sent: 4, received: 4, dropped: 0 });
    assert.deepEqual(pair.server.datagrams, { sent: 4, received: 4, dropped: 0 });
    // Ended: no more datagrams from this side (dropped and counted, never sent after the FIN).
    s.end();
    assert.equal(s.sendDatagram({ host: '127.0.0.9', port: 53 }, Buffer.from('late')), false);
    assert.equal(pair.client.datagrams.dropped, 1);
  } finally {
    await pair.close();
  }
});

test('a TCP stream takes no datagrams: sendDatagram drops it locally (the peer would break the link)', async () => {
  const pair = await linkPair();
  try {
    pair.server.on('stream', (s) => {
      s.on('error', () => undefined);
      s.accept();
    });
    const s = await pair.client.open('127.0.0.1', 7);
    s.on('error', () => undefined);
    assert.equal(s.sendDatagram({ host: '127.0.0.1', port: 7 }, Buffer.from('x')), false);
    assert.equal(pair.client.datagrams.dropped, 1);
    assert.equal(pair.client.broken, undefined);
    s.destroy();
  } finally {
    await pair.close();
  }
});

test('a peer that stops reading: datagrams queue up to DATAGRAM_QUEUE_BYTES, the rest are dropped and counted, the link lives on', async () => {
  let server!: LinkSession;
  const { server: listener, port } = await exitServer({}, (s) => (server = s));
  const { ingress, exit } = identities();
  const sock = await dialLinkTls({ host: '127.0.0.1', port, identity: ingress, pinned: [exit.fingerprint] });
  const client = new LinkSession(sock, { dialled: true, name: 'client' });
  try {
    let stream!: LinkStream;
    await eventually('the exit side session', () => server !== undefined);
    server.on('stream', (s) => {
      stream = s;
      s.on('error', () => undefined);
      s.accept();
    });
    const mine = await client.openDatagrams();
    mine.on('error', () => undefined);
    let received = 0;
    mine.on('datagram', () => received++);
    sock.pause(); // the client reads nothing more: the server's connection backs up
    const payload = Buffer.alloc(1024);
    let first = -1;
    for (let round = 0; round < 4000 && first < 0; round++) {
      for (let i = 0; i < 32; i++) if (!stream.sendDatagram({ host: '127.0.0.1', port: 9 }, payload) && first < 0) first = round;
      await new Promise((r) => setImmediate(r));
      assert.ok(stream.bufferedBytes <= DATAGRAM_QUEUE_BYTES, `queue within its bound (${stream.bufferedBytes})`);
    }
    assert.ok(first >= 0, 'datagrams were dropped once the connection was behind');
    const dropped = server.datagrams.dropped;
    assert.ok(dropped > 0);
    // More while blocked: dropped at once, the queue no larger.
    for (let i = 0; i < 1000; i++) stream.sendDatagram({ host: '127.0.0.1', port: 9 }, payload);
    assert.ok(server.datagrams.dropped >= dropped + 1000 - DATAGRAM_QUEUE_BYTES / 1024);
    assert.ok(stream.bufferedBytes <= DATAGRAM_QUEUE_BYTES);
    assert.equal(server.broken, undefined);
    // Reading again: everything queued arrives, and the link still answers.
    sock.resume();
    await eventually('the queued datagrams delivered', () => received === server.datagrams.sent);
    await client.ping();
    assert.equal(client.datagrams.received, server.datagrams.sent);
  } finally {
    client.destroy();
    server?.destroy();
    listener.close();
    await once(listener, 'close');
  }
});

test('a UDP stream ended with more datagrams queued than one turn sends: every one goes out before its FIN, and the link stays whole', async () => {
  const pair = await linkPair();
  try {
    const got: string[] = [];
    let ended = false;
    pair.server.on('stream', (s) => {
      s.on('error', () => undefined);
      s.accept();
      s.on('datagram', (_a: TargetAddress, d: Buffer) => got.push(d.subarray(0, 4).toString()));
      s.on('end', () => (ended = true));
      s.resume();
    });
    const s = await pair.client.openDatagrams();
    s.on('error', () => undefined);
    // 100 KiB queued at once (under the 128 KiB queue bound, over a turn's 64 KiB), then end() in the same tick.
    const n = 100;
    for (let i = 0; i < n; i++) assert.equal(s.sendDatagram({ host: '127.0.0.9', port: 53 }, Buffer.alloc(1024, String(i % 10)).fill(String(i).padStart(4, '0'), 0, 4)), true);
    s.end();
    await eventually('every datagram, then the end', () => ended);
    assert.equal(got.length, n, `got ${got.length} of ${n} before the FIN`);
    assert.equal(pair.server.broken, undefined);
    assert.equal(pair.client.broken, undefined);
    assert.equal(pair.client.datagrams.dropped, 0);
  } finally {
    await pair.close();
  }
});

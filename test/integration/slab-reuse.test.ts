/**
 * An exit's target reads into slabs (connectSlabReading) relayed into a link stream: once the link
 * has written a slab's every byte to its TLS socket (the socket's write callback), the slab is
 * reused for later reads instead of a fresh 256 KiB allocation per read (docs/BENCHMARKS.md,
 * "Link bulk: garbage"). Bytes still waiting anywhere (the stream's queue, the peer's window, a
 * stalled reader) keep their slab out of reuse: every byte must arrive as sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { connectSlabReading, slabCounts } from '../../src/shared/net/read-buffers.js';
import { relayStream, LINK_TARGET_READS } from '../../src/exit/relay-stream.js';
import type { LinkStream } from '../../src/link/stream.js';
import { LinkSession } from '../../src/link/session.js';
import { dialLinkTls } from '../../src/link/identity.js';
import { exitServer, identities } from '../helpers/link-pair.js';
import { listen0 } from '../helpers/ports.js';

const MiB = 1024 * 1024;
const byteAt = (i: number): number => (i * 7 + (i >> 12)) & 0xff;

function pattern(from: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let k = 0; k < n; k++) b[k] = byteAt(from + k);
  return b;
}

/** A target that sends `size` patterned bytes to whoever connects, then its FIN. */
async function source(size: number): Promise<{ port: number; close: () => void }> {
  const server = createServer((s: Socket) => {
    s.on('error', () => undefined);
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        const n = Math.min(size - sent, 200_000);
        const chunk = pattern(sent, n);
        sent += n;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
    };
    pump();
  });
  const port = await listen0(server);
  return { port, close: () => server.close() };
}

/**
 * A download of `size` through a link, the exit side relaying a slab-reading target; the reader at
 * the ingress side stalls `stalls` times for `stallMs`: its stream (`tls` false: the window fills,
 * slabs wait in the exit's stream) or the whole TLS connection (`tls` true: the exit's TLS socket
 * backs up with slab bytes written to it and not yet taken). Returns the slabs cut fresh and reused
 * meanwhile, after checking every byte.
 */
async function download(size: number, stalls: number, stallMs: number, tls = false): Promise<{ cut: number; reused: number }> {
  const src = await source(size);
  const { server, port } = await exitServer({}, (session) =>
    session.on('stream', (s: LinkStream) => {
      s.on('error', () => undefined);
      s.accept();
      const target = connectSlabReading({ host: '127.0.0.1', port: src.port, allowHalfOpen: true }, LINK_TARGET_READS.slabBytes);
      target.on('error', () => undefined);
      relayStream(s, target, 60_000);
    }),
  );
  const { ingress, exit } = identities();
  const sock = await dialLinkTls({ host: '127.0.0.1', port, identity: ingress, pinned: [exit.fingerprint] });
  const client = new LinkSession(sock, { dialled: true, name: 'ingress side' });
  const before = { ...slabCounts };
  try {
    const s = await client.open('127.0.0.1', src.port);
    s.on('error', () => undefined);
    let got = 0;
    let bad = -1;
    let stalled = 0;
    s.on('data', (d: Buffer) => {
      for (let k = 0; bad < 0 && k < d.length; k++) if (d[k] !== byteAt(got + k)) bad = got + k;
      got += d.length;
      // Stall at evenly spaced points: the link's window fills and the exit's slabs wait with their bytes unsent.
      if (stalled < stalls && got >= ((stalled + 1) * size) / (stalls + 1)) {
        stalled++;
        const paused = tls ? sock : s;
        paused.pause();
        setTimeout(() => paused.resume(), stallMs);
      }
    });
    await once(s, 'end');
    assert.equal(got, size, 'every byte');
    assert.equal(bad, -1, `byte ${bad} differs from what the target sent`);
  } finally {
    client.destroy();
    server.close();
    src.close();
  }
  return { cut: slabCounts.cut - before.cut, reused: slabCounts.reused - before.reused };
}

test('a link download reuses the exit\'s read slabs once sent: far fewer fresh slabs than reads, every byte intact', async () => {
  const SIZE = 64 * MiB;
  const { cut, reused } = await download(SIZE, 0, 0);
  const reads = SIZE / LINK_TARGET_READS.slabBytes; // ≈ 256 slabs' worth
  // In flight at most: the stream's window (up to 4 MiB) + its send buffer + the socket's, a few dozen slabs.
  assert.ok(cut <= 48, `${cut} fresh slabs (and ${reused} reused) for ${Math.round(reads)} slabs' worth of reads`);
  assert.ok(reused >= reads / 2, `${reused} slabs reused`);
});

test('a reader that stalls holds its slabs out of reuse: bytes waiting in the window arrive intact', async () => {
  await download(16 * MiB, 4, 150);
});

test('a link connection that stalls: slab bytes written to the exit\'s TLS socket and not yet taken are not reused', async () => {
  await download(32 * MiB, 6, 100, true);
});

/**
 * The ingress's side of a link download (issue 19, docs/BENCHMARKS.md "Link bulk: garbage"): the
 * link's TLS socket reads into slabs, and a slab is reused only once every DATA view into it has
 * been written to its client socket (the write's callback) — instead of a fresh buffer per
 * decrypted TLS record, whose garbage made the ingress collect its whole heap every few ms.
 * Bytes still waiting anywhere (a client that stops reading, a link whose TCP stalls) keep their
 * slab out of reuse: every byte must arrive as sent. Through the link pool, the ingress relay and
 * real sockets; the exit is a real one (test/helpers/link-exits.ts).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { ExitLinks } from '../../src/ingress/upstream/link-pool.js';
import { relay } from '../../src/ingress/relay/relay.js';
import { ExitSchema } from '../../src/shared/schema/ingress-config.js';
import { LinkIdentitySource } from '../../src/link/identity.js';
import { linkSlabCounts } from '../../src/shared/net/link-reads.js';
import { ingressIdentityDir, linkExitEntry, startLinkExit, type LinkExit } from '../helpers/link-exits.js';
import { listen0 } from '../helpers/ports.js';

const MiB = 1024 * 1024;
const byteAt = (i: number): number => (i * 7 + (i >> 12)) & 0xff;

function pattern(from: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let k = 0; k < n; k++) b[k] = byteAt(from + k);
  return b;
}

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A target that sends `size` patterned bytes to whoever connects, then its FIN. */
async function source(size: number): Promise<number> {
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
  cleanups.push(() => server.close());
  return listen0(server);
}

/**
 * A TCP forwarder in front of the exit's link port whose exit → ingress direction can be held:
 * the link's TLS connection stalls with nothing for the ingress to read, while its client drains
 * every view already handed on.
 */
async function stallingForwarder(port: number, host: string): Promise<{ port: number; stall: (ms: number) => void }> {
  const held = new Set<Socket>();
  const server = createServer((front: Socket) => {
    const back = connect(port, host);
    held.add(back);
    for (const s of [front, back]) s.on('error', () => undefined);
    front.pipe(back);
    back.pipe(front);
    front.on('close', () => back.destroy());
    back.on('close', () => {
      held.delete(back);
      front.destroy();
    });
  });
  cleanups.push(() => server.close());
  return {
    port: await listen0(server),
    stall: (ms) => {
      for (const b of held) {
        b.pause();
        setTimeout(() => b.resume(), ms);
      }
    },
  };
}

let exit: LinkExit | undefined;
let identityDir: string | undefined;

async function theExit(): Promise<LinkExit> {
  if (exit) return exit;
  const id = ingressIdentityDir();
  identityDir = id.dir;
  exit = await startLinkExit('slab-1', '127.0.0.2', [id.identity.fingerprint]);
  const e = exit;
  cleanups.push(() => e.stop());
  return e;
}

interface Download {
  /** Distinct memory blocks (ArrayBuffers) behind the pieces the ingress wrote to its client. */
  blocks: number;
  cut: number;
  reused: number;
}

/**
 * `size` bytes from a source behind the exit, over a link of a fresh pool, relayed by the ingress's
 * relay to a real client that checks every byte. The client stops reading `clientStalls` times, or
 * the link's TCP stalls `linkStalls` times, for `stallMs` each, at evenly spaced points.
 */
async function download(size: number, o: { clientStalls?: number; linkStalls?: number; stallMs?: number } = {}): Promise<Download> {
  const e = await theExit();
  const srcPort = await source(size);
  const fwd = await stallingForwarder(e.links.port, e.ip);
  const entry = ExitSchema.parse({ ...linkExitEntry(e, 'us'), host: '127.0.0.1', link: { port: fwd.port, fingerprint: e.identity.fingerprint } });
  const pool = new ExitLinks({ ...entry, link: entry.link! }, { identity: new LinkIdentitySource(identityDir!, 'test'), perExit: 1, heartbeatMs: 0 });
  cleanups.push(() => pool.destroy());
  const stream = await pool.open({ host: '127.0.0.1', port: srcPort, kind: 'ipv4' }, 5000);
  stream.on('error', () => undefined);

  const seen = new WeakSet<ArrayBufferLike>();
  let blocks = 0;
  const front = createServer((sock: Socket) => {
    sock.on('error', () => undefined);
    relay(sock, stream as unknown as Socket, { up: 0, down: 0 }, 60_000, () => undefined);
    // Beside the relay's own listener, added in the same turn: the pieces it writes to the client.
    stream.on('data', (d: Buffer) => {
      if (seen.has(d.buffer)) return;
      seen.add(d.buffer);
      blocks++;
    });
  });
  cleanups.push(() => front.close());
  const before = { ...linkSlabCounts };
  const client = connect(await listen0(front), '127.0.0.1');
  client.on('error', () => undefined);
  let got = 0;
  let bad = -1;
  let stalled = 0;
  const stalls = (o.clientStalls ?? 0) + (o.linkStalls ?? 0);
  client.on('data', (d: Buffer) => {
    for (let k = 0; bad < 0 && k < d.length; k++) if (d[k] !== byteAt(got + k)) bad = got + k;
    got += d.length;
    if (stalled < stalls && got >= ((stalled + 1) * size) / (stalls + 1)) {
      stalled++;
      if (o.linkStalls) fwd.stall(o.stallMs ?? 0);
      else {
        client.pause();
        setTimeout(() => client.resume(), o.stallMs);
      }
    }
  });
  await once(client, 'end');
  client.destroy();
  pool.destroy();
  assert.equal(got, size, 'every byte');
  assert.equal(bad, -1, `byte ${bad} differs from what the target sent`);
  assert.equal(stalled, stalls, 'every stall happened');
  return { blocks, cut: linkSlabCounts.cut - before.cut, reused: linkSlabCounts.reused - before.reused };
}

test("a link download at the ingress: far fewer fresh buffers than TLS records (slabs reused once written to the client), every byte intact", async () => {
  const SIZE = 64 * MiB;
  const { blocks, cut, reused } = await download(SIZE);
  const records = SIZE / (16 * 1024); // 4,096: one fresh buffer each from Node's TLS socket
  // One record a slab; in flight at most the stream's window (up to 4 MiB: 256 records) + the client's coalescing limit.
  assert.ok(blocks <= 512, `${blocks} distinct buffers written to the client for ${records} TLS records`);
  assert.ok(cut <= 400, `${cut} fresh slabs (and ${reused} reused)`);
  assert.ok(reused >= records / 2, `${reused} slabs reused`);
});

test('a client that stops reading holds its slabs out of reuse: bytes waiting for it arrive intact', async () => {
  await download(16 * MiB, { clientStalls: 4, stallMs: 150 });
});

test("a link whose TCP stalls: the records read before the stall are reused only once written, and every byte arrives", async () => {
  await download(32 * MiB, { linkStalls: 6, stallMs: 100 });
});

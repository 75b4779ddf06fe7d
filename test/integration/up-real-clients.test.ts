/**
 * Issue 17's "done when", as an outside user runs it: real clients on `hopgate up`'s random port
 * (the base port, 8000 in the default layout) with the demo user, for IPv4 and IPv6 targets and
 * UDP. Every curl proxy mode, the npm `socks` client's CONNECT and UDP ASSOCIATE; each repeated so
 * that the random choice falls on every demo exit — the reverse exit nl-1 too, which carries UDP
 * over the links it dials (and is pinned once for it, on its port). The demo target answers with the address the request came
 * from: each answer must be a demo exit's egress address of the target's family.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { lookup } from 'node:dns/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SocksClient } from 'socks';
import { curl } from '../helpers/curl.js';
import { withTimeout } from '../helpers/net.js';
import { socksAssociate } from '../helpers/socks-client.js';
import { startProc, stopGracefully, type Proc } from '../helpers/procs.js';
import type { UpContract } from '../../src/cli/up.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const state = mkdtempSync(join(tmpdir(), 'hopgate-up-clients-'));
/**
 * Requests per curl mode and family (and per username form): each must leave from a demo exit of the family. Which exit
 * is random; that the random port reaches every exit is checked over the whole suite, where ~90 IPv4 requests (42 by
 * curl, SOCKS_CONNECTS by the socks client, some of localhost's) miss one of 6 uniform choices with a chance of
 * 6·(5/6)^90 < 1e-6. (12 per mode, 150 curl processes, was ~2 s of CPU more for the same check.)
 */
const REPEAT = 6;
/** The socks client's CONNECTs per family: in this process, ~half a curl's CPU; most of the suite's IPv4 random choices. */
const SOCKS_CONNECTS = 40;
const ASSOCIATIONS = 30;

let BASE = 0;
let proc: Proc | undefined;
let c: UpContract;
let user = '';
let pw = '';
let egress4 = new Set<string>();
/** IPv4 egress addresses seen over the whole suite (TCP), to check the random choice reached every exit. */
const seen4 = new Set<string>();
/** IPv6 loopback on this host: the demo is dual stack only then. */
const has6 = await hasLoopback6();

function hasLoopback6(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => probe.close(() => resolve(true)));
  });
}

/** `hopgate up --json` on its own ports and state dir; the one line it prints, or what it said on failure. */
async function startUp(): Promise<{ proc: Proc; contract: UpContract }> {
  const child = await startProc('hopgate up', [process.execPath,
    cli, 'up', '--json', '--state-dir', state, '--ports', `${BASE}-${BASE + 9}`, '--workers', '2',
    '--control-port', String(BASE + 700), '--admin-port', String(BASE + 790), '--demo-port', String(BASE + 780),
    '--exit-port', String(BASE + 11), '--tunnel-port', String(BASE + 443),
  ], {
    env: { HOPGATE_TEST_SCRYPT_LN: '10' }, // the demo's hashes at a test cost (src/cli/test-hash-cost.ts)
    // The contract is its first line, whatever that is (`/^/`). 90 s is a bound, not an assertion (startProc then kills
    // it and its children, which would hold the ports): npm test starts the slowest files first, beside its type check
    // and ESLint, and at load 14 the start took over 30 s.
    ready: /^/,
    timeoutMs: 90_000,
  });
  return { proc: child, contract: JSON.parse(child.readyLine) as UpContract };
}

before(async () => {
  // Ports below the kernel's ephemeral range; a taken one (another test's `hopgate up`) moves the whole set.
  for (let attempt = 1; ; attempt++) {
    BASE = 10_000 + 1000 * Math.floor(Math.random() * 9);
    try {
      ({ proc, contract: c } = await startUp());
      // The demo target binds after the ingress; a taken demo port only drops it from the contract.
      if (!c.demoTarget || (has6 && !c.demoTarget6)) throw new Error(`EADDRINUSE (demo target): ${JSON.stringify(c)}`);
      break;
    } catch (err) {
      if (proc) await stopGracefully(proc, 15_000);
      proc = undefined;
      if (attempt >= 4 || !/EADDRINUSE/.test((err as Error).message)) throw err;
    }
  }
  user = c.users[0]!.username;
  pw = c.users[0]!.password;
  egress4 = new Set(c.exits.map((e) => e.egressIp));
});

after(async () => {
  if (proc) await stopGracefully(proc, 15_000);
  rmSync(state, { recursive: true, force: true });
});

/** The demo exits' egress addresses for a family (IPv6: their `egressIp6`). */
function egressOf(family: 4 | 6): Set<string> {
  return family === 4 ? egress4 : new Set(c.exits.map((e) => e.egressIp6).filter((a): a is string => a !== undefined));
}

function assertCameFrom(stdout: string, family: 4 | 6, what: string): void {
  const from = (JSON.parse(stdout) as { youCameFrom: string }).youCameFrom;
  assert.ok(egressOf(family).has(from), `${what}: came from ${from}, not a demo exit's IPv${family} egress`);
  if (family === 4) seen4.add(from);
}

interface Mode {
  readonly name: string;
  readonly args: () => string[];
  /** SOCKS4 carries only IPv4 addresses (4a a name): no IPv6 literal. */
  readonly v6: boolean;
}
const MODES: Mode[] = [
  { name: 'http', args: () => ['-x', `http://${user}:${pw}@127.0.0.1:${BASE}`], v6: true },
  { name: 'http CONNECT', args: () => ['-p', '-x', `http://${user}:${pw}@127.0.0.1:${BASE}`], v6: true },
  { name: 'https', args: () => ['--proxy-cacert', c.ingress.tlsCert!, '-x', `https://${user}:${pw}@127.0.0.1:${BASE}`], v6: true },
  { name: 'socks4', args: () => ['-x', `socks4://${user}%3A${pw}@127.0.0.1:${BASE}`], v6: false },
  { name: 'socks4a', args: () => ['-x', `socks4a://${user}%3A${pw}@127.0.0.1:${BASE}`], v6: false },
  { name: 'socks5', args: () => ['-x', `socks5://${user}:${pw}@127.0.0.1:${BASE}`], v6: true },
  { name: 'socks5h', args: () => ['-x', `socks5h://${user}:${pw}@127.0.0.1:${BASE}`], v6: true },
];

test('the contract names the demo target on both families and the exits\' IPv6 egress', () => {
  assert.match(c.demoTarget!, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  if (!has6) return;
  assert.equal(c.demoTarget6, c.demoTarget!.replace('127.0.0.1', '[::1]'), 'same port on ::1');
  for (const e of c.exits) assert.equal(e.egressIp6, '::1', `${e.id} is dual stack`);
});

for (const m of MODES) {
  test(`curl ${m.name} on the random port: IPv4${m.v6 ? ' and IPv6' : ''} targets, ${REPEAT} times each, from a demo exit of the family`, async () => {
    for (let i = 0; i < REPEAT; i++) {
      const r4 = await curl([...m.args(), c.demoTarget!]);
      assert.equal(r4.code, 0, `IPv4 #${i}: ${r4.stderr}`);
      assertCameFrom(r4.stdout, 4, `${m.name} IPv4 #${i}`);
      if (!m.v6 || !has6) continue;
      const r6 = await curl([...m.args(), c.demoTarget6!]);
      assert.equal(r6.code, 0, `IPv6 #${i}: ${r6.stderr}`);
      assertCameFrom(r6.stdout, 6, `${m.name} IPv6 #${i}`);
    }
  });
}

test('curl socks5h with a name (localhost): the exit resolves it and leaves from its egress of that family', async () => {
  const families = new Set((await lookup('localhost', { all: true })).map((a) => a.family as 4 | 6));
  const port = new URL(c.demoTarget!).port;
  for (let i = 0; i < REPEAT; i++) {
    const r = await curl(['-x', `socks5h://${user}:${pw}@127.0.0.1:${BASE}`, `http://localhost:${port}/`]);
    assert.equal(r.code, 0, `#${i}: ${r.stderr}`);
    const from = (JSON.parse(r.stdout) as { youCameFrom: string }).youCameFrom;
    const family = from.includes(':') ? 6 : 4;
    assert.ok(families.has(family), `#${i}: localhost is not IPv${family} here, yet the request came from ${from}`);
    assertCameFrom(r.stdout, family, `localhost #${i}`);
  }
});

test('curl socks4a with an IPv6 literal gets a clear refusal: SOCKS4 has no IPv6', { skip: !has6 && 'no ::1 here' }, async () => {
  const r = await curl(['-x', `socks4a://${user}%3A${pw}@127.0.0.1:${BASE}`, c.demoTarget6!]);
  // SOCKS4 replies have one refusal code (91); the ingress logs FAMILY_UNSUPPORTED "SOCKS4 has no IPv6".
  process.stdout.write(`# curl socks4a -> [::1]: ${r.stderr.trim()}\n`);
  assert.equal(r.code, 97, `curl's proxy-handshake failure, not a relay: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /SOCKS4 connection .*\(91\), request rejected/, r.stderr);
});

test(`socks client CONNECT on the random port: IPv4 and IPv6 targets, ${SOCKS_CONNECTS} times each`, async () => {
  const port = Number(new URL(c.demoTarget!).port);
  const targets = ([['127.0.0.1', 4], ['::1', 6]] as const).filter(([, f]) => f === 4 || has6);
  for (let i = 0; i < SOCKS_CONNECTS; i++) {
    for (const [host, family] of targets) {
      const { socket } = await SocksClient.createConnection({
        proxy: { host: '127.0.0.1', port: BASE, type: 5, userId: user, password: pw },
        command: 'connect',
        destination: { host, port },
        timeout: 5000,
      });
      try {
        const chunks: Buffer[] = [];
        socket.on('data', (d: Buffer) => chunks.push(d));
        socket.write('GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n');
        await withTimeout(once(socket, 'end'), 5000, `answer to ${host} #${i}`);
        const [head, body] = Buffer.concat(chunks).toString().split('\r\n\r\n');
        assert.match(head!, /^HTTP\/1\.1 200/, `${host} #${i}`);
        assertCameFrom(body!, family, `socks ${host} #${i}`);
      } finally {
        socket.destroy();
      }
    }
  }
});

/** The IPv4 address the demo target saw through the socks client with this username on this port. */
async function socksFrom(username: string, port: number): Promise<string> {
  const { socket } = await SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port, type: 5, userId: username, password: pw },
    command: 'connect',
    destination: { host: '127.0.0.1', port: Number(new URL(c.demoTarget!).port) },
    timeout: 5000,
  });
  try {
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.write('GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n');
    await withTimeout(once(socket, 'end'), 5000, `answer for ${username}`);
    return (JSON.parse(Buffer.concat(chunks).toString().split('\r\n\r\n')[1]!) as { youCameFrom: string }).youCameFrom;
  } finally {
    socket.destroy();
  }
}

test('the username forms of issue 17 on the demo: exitnode-random, cc-UK-exitnode-random, alternatives with , and ;, a country indexing numbered ports', async () => {
  const ip = (id: string): string => c.exits.find((e) => e.id === id)!.egressIp;
  const anywhere = new Set<string>();
  // 12: all on one exit by chance 6·(1/6)^12 < 1e-8.
  for (let i = 0; i < REPEAT * 2; i++) {
    // Port base+1 alone would be us-1; exitnode-random chooses whatever the port.
    const r = await curl(['-x', `socks5h://${user}-exitnode-random:${pw}@127.0.0.1:${BASE + 1}`, c.demoTarget!]);
    assert.equal(r.code, 0, r.stderr);
    anywhere.add((JSON.parse(r.stdout) as { youCameFrom: string }).youCameFrom);
  }
  assert.ok(anywhere.size > 1, `exitnode-random on port ${BASE + 1} always left from ${[...anywhere].join()}`);
  for (let i = 0; i < REPEAT; i++) {
    assert.equal(await socksFrom(`${user}-cc-UK-exitnode-random`, BASE), ip('gb-1'), 'UK is GB');
    const usde = [ip('us-1'), ip('us-2'), ip('de-1'), ip('de-2')];
    for (const sep of [',', ';']) {
      const from = await socksFrom(`${user}-country-us${sep}de`, BASE);
      assert.ok(usde.includes(from), `country-us${sep}de left from ${from}`);
    }
  }
  // A country tag on a numbered port counts within that country's exits.
  assert.equal(await socksFrom(`${user}-country-de`, BASE + 1), ip('de-1'));
  assert.equal(await socksFrom(`${user}-country-de`, BASE + 2), ip('de-2'));
});

test('over the whole suite, the random port reached every demo exit, the reverse one (nl-1) too', () => {
  assert.deepEqual([...seen4].sort(), [...egress4].sort());
});

/** A UDP target that answers each datagram with the address it came from. */
async function startUdpWhoami(host: string): Promise<{ port: number; close(): void }> {
  const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  s.on('message', (_msg, rinfo) => s.send(rinfo.address, rinfo.port, rinfo.address));
  s.bind(0, host);
  await once(s, 'listening');
  return { port: s.address().port, close: () => s.close() };
}

test(`${ASSOCIATIONS} UDP associations on the random port and one on the reverse exit's: each succeeds and echoes IPv4${has6 ? ' and IPv6' : ''} datagrams`, async () => {
  const nl = c.exits.find((e) => e.kind === 'reverse')!;
  const targets: Array<{ host: string; family: 4 | 6; server: { port: number; close(): void } }> = [{ host: '127.0.0.1', family: 4, server: await startUdpWhoami('127.0.0.1') }];
  if (has6) targets.push({ host: '::1', family: 6, server: await startUdpWhoami('::1') });
  const udp: UdpSocket = createSocket('udp4');
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  const carriers = new Set<string>();
  try {
    // The last one pinned to the reverse exit (base+6, nl-1): over one of the links it dialled.
    for (let i = 0; i <= ASSOCIATIONS; i++) {
      const pinned = i === ASSOCIATIONS;
      const assoc = await socksAssociate(pinned ? BASE + 6 : BASE, user, pw);
      try {
        const relay = { host: assoc.remoteHost!.host === '0.0.0.0' ? '127.0.0.1' : assoc.remoteHost!.host, port: assoc.remoteHost!.port };
        for (const t of targets) {
          udp.send(SocksClient.createUDPFrame({ remoteHost: { host: t.host, port: t.server.port }, data: Buffer.from(`#${i}`) }), relay.port, relay.host);
          const [msg] = (await withTimeout(once(udp, 'message'), 3000, `echo #${i} from ${t.host}`)) as [Buffer];
          const frame = SocksClient.parseUDPFrame(msg);
          assert.equal(frame.remoteHost.port, t.server.port, `#${i}: the reply names its sender`);
          const from = frame.data.toString();
          assert.ok(egressOf(t.family).has(from), `UDP #${i} to ${t.host} left from ${from}, not a demo exit's IPv${t.family} egress`);
          if (pinned) assert.equal(from, t.family === 4 ? nl.egressIp : nl.egressIp6, `UDP to ${t.host} on nl-1's port left from ${from}`);
          if (t.family === 4) carriers.add(from);
        }
      } finally {
        assoc.socket.destroy();
      }
    }
  } finally {
    udp.close();
    for (const t of targets) t.server.close();
  }
  process.stdout.write(`# UDP left from ${[...carriers].sort().join(', ')}\n`);
  // The demo exits are reached over links: every datagram crossed one (DATAGRAM frames), none went by the exits' SOCKS5 ports;
  // those through nl-1 over the links it dialled.
  const metrics = await (await fetch(`http://127.0.0.1:${BASE + 790}/metrics`)).text();
  const total = (series: string): number => [...metrics.matchAll(new RegExp(`^${series} (\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
  const datagrams = (ASSOCIATIONS + 1) * targets.length;
  const forward = (dir: string): number => total(`hopgate_ingress_link_datagrams_${dir}\\{exit="[^"]+"\\}`);
  const reverse = (outcome: string): number => total(`hopgate_reverse_link_datagrams\\{exit="[^"]+",outcome="${outcome}"\\}`);
  assert.ok(reverse('sent') >= targets.length, `nl-1's link carried its pinned association (${reverse('sent')} datagrams)`);
  assert.equal(forward('sent') + reverse('sent'), datagrams, 'each datagram went over a link');
  assert.equal(forward('received') + reverse('received'), datagrams, 'each reply came back over a link');
});

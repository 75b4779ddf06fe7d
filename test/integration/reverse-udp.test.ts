/**
 * UDP associations through reverse exits over links (issue 19): a SOCKS5 UDP
 * ASSOCIATE client (the npm `socks` client and a plain UDP socket) → ingress →
 * one UDP stream on a link the reverse exit dialled → the exit → UDP echo
 * targets on 127.0.0.1 and ::1. An exit of the older work-connection protocol
 * cannot carry UDP: refused precisely (REP 7) and skipped by random choices.
 * The exit's `targets:` is enforced at the ingress on literal addresses and
 * ports, at the exit on the addresses names resolve to. A hostile exit's
 * floods and DATAGRAM frames on streams it was never given stay on its link.
 * With two ingress workers, an association waits for the exit's link as a
 * TCP tunnel does.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { SocksClient } from 'socks';
import { USER, aliceHashed } from '../helpers/ingress.js';
import { reverseEntry, reverseIngressBase, startReverseExit, tokenHash, tunnelCert, TOKEN } from '../helpers/reverse.js';
import { socksAssociate, socksUdpCustomer, type SocksUdpCustomer } from '../helpers/socks-client.js';
import { eventually } from '../helpers/eventually.js';
import { withTimeout } from '../helpers/net.js';
import { Ingress } from '../../src/ingress/ingress.js';
import { startIngressProcesses } from '../../src/processes/ingress-workers.js';
import { IngressConfigSchema, type IngressConfigInput } from '../../src/shared/schema/ingress-config.js';
import { TargetPolicy } from '../../src/shared/net/target-policy.js';
import { createLogger } from '../../src/shared/log.js';
import { parsePacket } from '../../src/protocol/work-packet/codec.js';
import { registrationPacket } from '../../src/protocol/work-packet/messages.js';
import { datagramFrame } from '../../src/protocol/link/codec.js';
import { createLinkIdentity } from '../../src/link/identity.js';
import { LinkSession } from '../../src/link/session.js';
import type { LinkStream } from '../../src/link/stream.js';
import type { ReverseExitClient } from '../../src/exit/reverse-client.js';
import { udpEchoTarget } from '../helpers/udp-echo.js';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const BOB = { login: 'bob', password: USER.password };
const ADMIN = 'admin-token-for-reverse-udp';
/** Loopback for both families, at the ingress and at the exits. */
const LOOPBACK = ['127.0.0.0/8', '::1/128'];

const has6 = await new Promise<boolean>((resolve) => {
  const s = createSocket('udp6');
  s.once('error', () => resolve(false));
  s.bind(0, '::1', () => s.close(() => resolve(true)));
});

type Users = Array<{ login: string; exits?: string[] }>;
const BOTH: Users = [{ login: USER.login }, { login: BOB.login }];

async function ingressConfig(exits: object[], users: Users = BOTH): Promise<ReturnType<typeof IngressConfigSchema.parse>> {
  const base = await reverseIngressBase();
  const hash = await aliceHashed();
  const cfg = {
    ...base,
    targetPolicy: { allow: LOOPBACK },
    exits,
    users: users.map((u) => ({ ...u, passwordHash: hash })),
    metrics: { host: '127.0.0.1', port: 0, token: ADMIN },
    reverse: { listen: { host: '127.0.0.1', port: 0 }, waitMs: 1000, heartbeatMs: 2000 },
  } as IngressConfigInput;
  return IngressConfigSchema.parse(cfg);
}

async function startIngress(exits: object[], users: Users = BOTH): Promise<Ingress> {
  const ing = await Ingress.start(await ingressConfig(exits, users), createLogger('silent'));
  cleanups.push(() => ing.shutdown(0));
  return ing;
}

/** A reverse exit over links (or, `work`, the older protocol) leaving from `egress` (and ::1). */
function exitFor(ing: Ingress, id: string, egress: string, mode: 'link' | 'work' = 'link'): ReverseExitClient {
  const policy = new TargetPolicy({ allow: LOOPBACK, deny: [], ports: [] });
  const e = startReverseExit(ing.runtime.reverse!.tunnelPort!, id, egress, { mode, links: 1, pool: 2, egress6: has6 ? '::1' : undefined, policy });
  cleanups.push(() => e.stop(0));
  return e;
}

/** A UDP echo target on `host`, closed after the file's tests. */
async function udpTarget(host: string): ReturnType<typeof udpEchoTarget> {
  const t = await udpEchoTarget(host);
  cleanups.push(() => t.close());
  return t;
}

/** A SOCKS5 client's UDP side (test/helpers/socks-client.ts). */
function customer(port: number, userId: string, password = USER.password): Promise<SocksUdpCustomer> {
  return socksUdpCustomer(port, userId, password, (end) => cleanups.push(end));
}

async function scrape(ing: Ingress, exit: string): Promise<Record<string, string>> {
  const text = await (await fetch(`http://127.0.0.1:${ing.adminPort}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^hopgate_reverse_link_datagrams\{exit="([^"]+)",outcome="(\w+)"\} (\d+)/gm)) if (m[1] === exit) out[m[2]!] = m[3]!;
  return out;
}

/**
 * An exit of our own making on the tunnel port: registered for links with the right token, the
 * TLS socket handed back to speak the link protocol as the test wants (a hostile or older exit).
 */
async function rawLinkExit(ing: Ingress, id: string): Promise<TLSSocket> {
  const raw = tlsConnect({ host: '127.0.0.1', port: ing.runtime.reverse!.tunnelPort!, ca: tunnelCert().pem });
  raw.on('error', () => undefined);
  cleanups.push(() => raw.destroy());
  await withTimeout(once(raw, 'secureConnect'), 10_000, 'TLS');
  raw.write(registrationPacket({ exit: id, token: TOKEN, link: true }));
  const rest = await withTimeout(
    new Promise<Buffer>((resolve) => {
      let buf = Buffer.alloc(0);
      const on = (d: Buffer): void => {
        buf = Buffer.concat([buf, d]);
        const r = parsePacket(buf);
        if (r.kind !== 'ok') return;
        raw.off('data', on);
        resolve(buf.subarray(r.consumed));
      };
      raw.on('data', on);
    }),
    10_000,
    'registration accepted',
  );
  if (rest.length > 0) raw.unshift(rest);
  return raw;
}

/** A link of exit `id` from an exit before UDP streams: it refuses every open as a bad request (no host), counting them. */
async function olderLinkExit(ing: Ingress, id: string, name: string): Promise<{ opens: () => number }> {
  const link = new LinkSession(await rawLinkExit(ing, id), { dialled: true, name });
  let opens = 0;
  link.on('stream', (s) => {
    opens++;
    s.refuse('BAD_REQUEST', "bad target ':undefined'"); // what an exit before UDP streams answers
  });
  return { opens: () => opens };
}

const REJECTED_7 = /rejected connection - (CommandNotSupported|Command not supported)/i;

test(`a UDP association through a reverse exit over its link: IPv4${has6 ? ' and IPv6' : ''} echoes from its egress, its figures, the stream closes with the association`, { timeout: 30_000 }, async () => {
  const ing = await startIngress([await reverseEntry('lnk', '127.0.0.51', 'de', has6 ? { egressIp6: '::1' } : {})]);
  const exit = exitFor(ing, 'lnk', '127.0.0.51');
  const reg = ing.runtime.reverse!.registry;
  await withTimeout(exit.ready, 10_000, 'the exit registered');
  await eventually('its link', () => reg.stats().exits.lnk!.links === 1);
  const t4 = await udpTarget('127.0.0.1');
  const t6 = has6 ? await udpTarget('::1') : undefined;
  const c = await customer(ing.ports()[0]!, `${USER.login}-exitip-127.0.0.51`);
  assert.equal(reg.stats().exits.lnk!.streams, 1, 'the association is one stream on the link');
  c.send('127.0.0.1', t4.port, 'v4');
  if (t6) c.send('::1', t6.port, 'v6');
  await eventually('the echoes', () => c.replies.length === (t6 ? 2 : 1));
  assert.deepEqual(c.replies.sort(), [`127.0.0.1:${t4.port} echo:v4`, ...(t6 ? [`::1:${t6.port} echo:v6`] : [])].sort());
  assert.deepEqual(t4.seen.map((r) => r.address), ['127.0.0.51'], "the IPv4 target saw the exit's egress address");
  if (t6) assert.deepEqual(t6.seen.map((r) => r.address), ['::1']);
  const n = t6 ? 2 : 1;
  assert.deepEqual([exit.counters.udpStreams, exit.counters.datagramsOut, exit.counters.datagramsBack], [1, n, n]);
  // /metrics: what crossed the exit's links; `hopgate exits` (/v1/exits): the link row with its drops.
  assert.deepEqual(await scrape(ing, 'lnk'), { sent: String(n), received: String(n), dropped: '0', refused: '0' });
  const report = (await (await fetch(`http://127.0.0.1:${ing.adminPort}/v1/exits`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { exits: Array<{ id: string; link: Record<string, number> | null }> };
  const row = report.exits.find((e) => e.id === 'lnk')!.link!;
  assert.deepEqual([row.links, row.streams, row.datagramsDropped], [1, 1, 0]);
  // The client closes its control connection: the association ends, its stream on both sides, the exit's socket.
  c.assoc.socket.destroy();
  await eventually('the stream closed at the ingress and at the exit', () => reg.stats().exits.lnk!.streams === 0 && exit.activeTunnels === 0);
  // The exit gone: a pinned association is refused as a TCP tunnel would be (EXIT_UNREACHABLE, REP 1), not as a lack of UDP.
  await exit.stop(0);
  await eventually('the exit gone at the ingress', () => reg.presence('lnk') === false);
  await assert.rejects(socksAssociate(ing.ports()[0]!, `${USER.login}-exitip-127.0.0.51`, USER.password), /rejected connection - Failure/);
});

test("an exit connected with the older work-connection protocol carries no UDP: pinned, REP 7; random choices skip it; TCP still goes through it", { timeout: 30_000 }, async () => {
  const ing = await startIngress([await reverseEntry('old', '127.0.0.52', 'de'), await reverseEntry('lnk', '127.0.0.53', 'de')], [
    { login: USER.login, exits: ['old', 'lnk'] },
    { login: BOB.login, exits: ['old'] },
  ]);
  const old = exitFor(ing, 'old', '127.0.0.52', 'work');
  const lnk = exitFor(ing, 'lnk', '127.0.0.53');
  await withTimeout(Promise.all([old.ready, lnk.ready]), 10_000, 'both exits registered');
  const reg = ing.runtime.reverse!.registry;
  await eventually('a link and work connections', () => reg.stats().exits.lnk!.links === 1 && reg.stats().exits.old!.idle === 2);
  const port = ing.ports()[0]!;
  await assert.rejects(socksAssociate(port, `${USER.login}-exitip-127.0.0.52`, USER.password), REJECTED_7);
  await assert.rejects(socksAssociate(port, BOB.login, BOB.password), REJECTED_7, "bob's only exit carries no UDP");
  assert.equal(reg.stats().exits.old!.idle, 2, 'no work connection was taken for UDP');
  // Random choices for alice: always the link exit.
  const target = await udpTarget('127.0.0.1');
  for (let i = 0; i < 6; i++) {
    const c = await customer(port, USER.login);
    c.send('127.0.0.1', target.port, `r${i}`);
    await eventually(`echo r${i}`, () => c.replies.length === 1);
    c.assoc.socket.destroy();
  }
  assert.deepEqual(new Set(target.seen.map((r) => r.address)), new Set(['127.0.0.53']));
  // A CONNECT through the old exit still works (its work connections are untouched).
  const { socket } = await SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port, type: 5, userId: `${USER.login}-exitip-127.0.0.52`, password: USER.password },
    command: 'connect',
    destination: { host: '127.0.0.1', port: ing.adminPort! },
    timeout: 10_000,
  });
  socket.destroy();
  assert.equal(old.counters.served, 1);
});

test("the reverse exit's targets: literal addresses and ports refused at the ingress (counted, nothing leaves), names at the exit on the resolved address", { timeout: 30_000 }, async () => {
  const inside = await udpTarget('127.0.0.2');
  const outside = await udpTarget('127.0.0.3');
  const targets = { allow: ['127.0.0.2/32'], deny: [], ports: [inside.port] };
  const ing = await startIngress([await reverseEntry('fenced', '127.0.0.54', 'de', { targets })]);
  const exit = exitFor(ing, 'fenced', '127.0.0.54');
  await withTimeout(exit.ready, 10_000, 'the exit registered');
  const reg = ing.runtime.reverse!.registry;
  await eventually('its link', () => reg.stats().exits.fenced!.links === 1);
  const c = await customer(ing.ports()[0]!, `${USER.login}-exitip-127.0.0.54`);
  c.send('127.0.0.3', inside.port, 'network'); // outside its networks
  c.send('127.0.0.2', outside.port, 'port'); // a port it does not serve
  c.send('localhost', inside.port, 'name'); // a name: the exit resolves it (127.0.0.1 or ::1), outside its networks
  await eventually('the name refused at the exit', () => exit.counters.datagramsRefused === 1);
  c.send('127.0.0.2', inside.port, 'yes');
  await eventually('the echo', () => c.replies.length === 1);
  assert.deepEqual(c.replies, [`127.0.0.2:${inside.port} echo:yes`]);
  assert.equal(outside.seen.length, 0);
  assert.deepEqual(inside.seen.map((r) => r.address), ['127.0.0.54']);
  assert.equal(exit.counters.datagramsOut, 2, 'only the name and the allowed datagram reached the exit');
  assert.equal((await scrape(ing, 'fenced')).refused, '2');
});

test('a hostile reverse exit: its flood back reaches only the association it answers, bounded; a DATAGRAM on a stream it was never given breaks only its link and ends its associations', { timeout: 30_000 }, async () => {
  const ing = await startIngress([await reverseEntry('bad', '127.0.0.55', 'de')]);
  const reg = ing.runtime.reverse!.registry;
  const raw = await rawLinkExit(ing, 'bad');
  const link = new LinkSession(raw, { dialled: true, name: 'hostile exit' });
  const streams: LinkStream[] = [];
  let heard = 0;
  link.on('stream', (s) => {
    s.on('error', () => undefined);
    s.on('datagram', () => heard++);
    s.accept('127.0.0.55:9');
    streams.push(s);
  });
  await eventually('its link at the ingress', () => reg.stats().exits.bad!.links === 1);
  const port = ing.ports()[0]!;
  const alice = await customer(port, `${USER.login}-exitip-127.0.0.55`);
  const bob = await customer(port, `${BOB.login}-exitip-127.0.0.55`, BOB.password);
  await eventually('two UDP streams', () => streams.length === 2);
  // Each customer sends first (an association's replies go to the port its first datagram came from).
  alice.send('127.0.0.1', 9, 'a');
  bob.send('127.0.0.1', 9, 'b');
  await eventually('both datagrams at the hostile exit', () => heard === 2);
  // A flood on alice's stream only, naming any source it likes: it is the only party talking to her.
  for (let i = 0; i < 2000; i++) streams[0]!.sendDatagram({ host: '192.0.2.1', port: 53 }, Buffer.from(`flood${i}`));
  await eventually('some of the flood reached alice', () => alice.replies.length > 0);
  assert.equal(bob.replies.length, 0, 'nothing of it reached bob');
  // A DATAGRAM on a stream the ingress never opened: a protocol violation, the link breaks.
  raw.write(datagramFrame(1001, { host: '127.0.0.1', port: 9 }, Buffer.from('stray')));
  await eventually('the hostile link closed', () => raw.destroyed);
  await eventually('both associations ended (their control connections closed)', () => alice.assoc.socket.destroyed && bob.assoc.socket.destroyed);
  await eventually('no link, no stream left', () => reg.stats().exits.bad!.links === 0 && reg.stats().exits.bad!.streams === 0);
  assert.equal(bob.replies.length, 0);
});

test('a reverse exit whose links predate UDP streams (it refuses the UDP open as a bad request): REP 7, its link keeps serving', { timeout: 30_000 }, async () => {
  const ing = await startIngress([await reverseEntry('older', '127.0.0.56', 'de')]);
  const reg = ing.runtime.reverse!.registry;
  const { opens } = await olderLinkExit(ing, 'older', 'older exit');
  await eventually('its link at the ingress', () => reg.stats().exits.older!.links === 1);
  await assert.rejects(socksAssociate(ing.ports()[0]!, `${USER.login}-exitip-127.0.0.56`, USER.password), REJECTED_7);
  assert.equal(opens(), 1);
  assert.equal(reg.stats().exits.older!.links, 1, 'the link is not broken by it');
  // Remembered for that link: the next associations get REP 7 without asking it again, and route choice knows.
  for (let i = 0; i < 2; i++) await assert.rejects(socksAssociate(ing.ports()[0]!, `${USER.login}-exitip-127.0.0.56`, USER.password), REJECTED_7);
  assert.equal(opens(), 1, 'the link was asked once');
  assert.equal(reg.carriesUdp('older'), false);
  assert.equal(reg.stats().exits.older!.links, 1);
});

test('two links to one reverse exit, one of which refused UDP: associations go over the other link (not REP 7), the refusing link is not asked again', { timeout: 30_000 }, async () => {
  const ing = await startIngress([await reverseEntry('mixed', '127.0.0.64', 'de')]);
  const reg = ing.runtime.reverse!.registry;
  // First link: an exit from before UDP streams (refuses the open as a bad request).
  const { opens } = await olderLinkExit(ing, 'mixed', 'older link');
  await eventually('its first link at the ingress', () => reg.stats().exits.mixed!.links === 1);
  await assert.rejects(socksAssociate(ing.ports()[0]!, `${USER.login}-exitip-127.0.0.64`, USER.password), REJECTED_7);
  assert.equal(opens(), 1);
  // A second link of the same exit, from a real (current) reverse exit: both idle, the older one first.
  const exit = exitFor(ing, 'mixed', '127.0.0.64');
  await withTimeout(exit.ready, 10_000, 'the second link registered');
  await eventually('both links at the ingress', () => reg.stats().exits.mixed!.links === 2);
  assert.equal(reg.carriesUdp('mixed'), true);
  const t = await udpTarget('127.0.0.1');
  for (let i = 0; i < 3; i++) {
    const c = await customer(ing.ports()[0]!, `${USER.login}-exitip-127.0.0.64`);
    c.send('127.0.0.1', t.port, `n${i}`);
    await eventually(`echo ${i} over the link that carries UDP`, () => c.replies.length === 1);
    assert.deepEqual(c.replies, [`127.0.0.1:${t.port} echo:n${i}`]);
    c.assoc.socket.destroy();
  }
  assert.equal(opens(), 1, 'the refusing link was not asked again');
  assert.equal(exit.counters.udpStreams, 3);
});

test('two ingress workers and one link: an association reaching the worker without it waits for the link to be moved there, as a TCP tunnel does', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-revudp-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'workers.yaml');
  const cfg = { ...(await reverseIngressBase()), exits: [await reverseEntry('two', '127.0.0.57', 'de')], reverse: { listen: { host: '127.0.0.1', port: 0 }, waitMs: 5000, heartbeatMs: 2000 } };
  writeFileSync(file, JSON.stringify(cfg));
  const ing = await startIngressProcesses(file, { workers: 2, log: createLogger('silent') });
  cleanups.push(() => ing.stop());
  const exit = startReverseExit(ing.tunnelPort!, 'two', '127.0.0.57', { mode: 'link', links: 1 });
  cleanups.push(() => exit.stop(0));
  await withTimeout(exit.ready, 10_000, 'the exit registered');
  const target = await udpTarget('127.0.0.1');
  // Sequential associations land on either worker (the kernel spreads accepts, so which one is not ours to
  // choose): every one echoes. Each move of the link to the other worker is a new registration.
  for (let i = 0; i < 6; i++) {
    const c = await customer(ing.ports[0], `${USER.login}-exitip-127.0.0.57`);
    c.send('127.0.0.1', target.port, `w${i}`);
    await eventually(`echo w${i}`, () => c.replies.length === 1, { timeoutMs: 10_000 });
    c.assoc.socket.destroy();
  }
  assert.deepEqual(new Set(target.seen.map((r) => r.address)), new Set(['127.0.0.57']));
  process.stdout.write(`the link registered ${exit.counters.registered} times for 6 associations\n`);
});

test("a retired link key or a changed token ends the UDP associations on the old links (each datagram is a new flow, not a running tunnel): the holder of the old key or token gets no more of the customer's traffic", { timeout: 60_000 }, async () => {
  const target = await udpTarget('127.0.0.1');
  const old = createLinkIdentity('hopgate reverse exit kt');
  const entry = await reverseEntry('kt', '127.0.0.58', 'de', { linkFingerprint: old.fingerprint });
  const ing = await startIngress([entry]);
  const reg = ing.runtime.reverse!.registry;
  const port = ing.ports()[0]!;
  // Whoever holds the old key (and the token): its link carries an association.
  const keyed = startReverseExit(ing.runtime.reverse!.tunnelPort!, 'kt', '127.0.0.58', { mode: 'link', links: 1, identity: old, policy: new TargetPolicy({ allow: LOOPBACK, deny: [], ports: [] }) });
  cleanups.push(() => keyed.stop(0));
  await eventually('its link on the old key', () => reg.stats().exits.kt!.links === 1);
  const c = await customer(port, `${USER.login}-exitip-127.0.0.58`);
  c.send('127.0.0.1', target.port, 'before');
  await eventually('the echo before', () => c.replies.length === 1);
  // The retirement: another key is the only pin.
  ing.reload(await ingressConfig([{ ...entry, linkFingerprint: createLinkIdentity('hopgate reverse exit kt next').fingerprint }]));
  await eventually('the association on the retired key ended', () => c.assoc.socket.destroyed, { timeoutMs: 10_000 });
  await eventually('no stream left on the old link', () => reg.stats().exits.kt!.streams === 0 && keyed.activeTunnels === 0);
  const seen = target.seen.length;
  c.send('127.0.0.1', target.port, 'after');
  await new Promise((r) => setTimeout(r, 300)); // a window in which 'after' must NOT reach the target
  assert.equal(target.seen.length, seen, 'nothing sent after the retirement left through the old key');

  // A token rotation (after a leak) ends them the same way.
  const tk = await reverseEntry('tk', '127.0.0.59', 'de');
  const ing2 = await startIngress([tk]);
  const reg2 = ing2.runtime.reverse!.registry;
  const leaked = exitFor(ing2, 'tk', '127.0.0.59');
  await withTimeout(leaked.ready, 10_000, 'the exit registered');
  await eventually('its link', () => reg2.stats().exits.tk!.links === 1);
  const d = await customer(ing2.ports()[0]!, `${USER.login}-exitip-127.0.0.59`);
  d.send('127.0.0.1', target.port, 'token-before');
  await eventually('the echo', () => d.replies.length === 1);
  ing2.reload(await ingressConfig([{ ...tk, tokenHash: await tokenHash('a-new-token-after-a-leak') }]));
  await eventually('the association on the old token ended', () => d.assoc.socket.destroyed, { timeoutMs: 10_000 });
});

test("a reverse exit's targets: narrowed by a reload: its live UDP associations (judged, and their networks sent, under the old rule) end; new ones follow the new rule", { timeout: 30_000 }, async () => {
  const kept = await udpTarget('127.0.0.2');
  const dropped = await udpTarget('127.0.0.3');
  const entry = await reverseEntry('nar', '127.0.0.60', 'de', { targets: { allow: ['127.0.0.2/32', '127.0.0.3/32'], deny: [] } });
  const ing = await startIngress([entry]);
  const exit = exitFor(ing, 'nar', '127.0.0.60');
  await withTimeout(exit.ready, 10_000, 'the exit registered');
  const reg = ing.runtime.reverse!.registry;
  await eventually('its link', () => reg.stats().exits.nar!.links === 1);
  const c = await customer(ing.ports()[0]!, `${USER.login}-exitip-127.0.0.60`);
  c.send('127.0.0.3', dropped.port, 'before');
  await eventually('the echo under the old rule', () => c.replies.length === 1);
  ing.reload(await ingressConfig([{ ...entry, targets: { allow: ['127.0.0.2/32'], deny: [] } }]));
  // The reload took effect: the association's UDP stream, opened under the old rule, is gone at both ends.
  await eventually('the old rule\'s UDP stream ended at the ingress and the exit', () => reg.stats().exits.nar!.streams === 0 && exit.activeTunnels === 0);
  c.send('127.0.0.3', dropped.port, 'after');
  await new Promise((r) => setTimeout(r, 500)); // a window in which 'after' must NOT reach the dropped target
  assert.equal(dropped.seen.length, 1, 'nothing reached the network taken out of its targets');
  await eventually('the old association ended', () => c.assoc.socket.destroyed, { timeoutMs: 10_000 });
  const d = await customer(ing.ports()[0]!, `${USER.login}-exitip-127.0.0.60`);
  d.send('127.0.0.3', dropped.port, 'new');
  d.send('127.0.0.2', kept.port, 'kept');
  await eventually('the echo within the new rule', () => d.replies.length === 1);
  assert.deepEqual(d.replies, [`127.0.0.2:${kept.port} echo:kept`]);
  assert.equal(dropped.seen.length, 1);
});

test('a token change while a UDP open is still unanswered by the exit: the client is refused (REP 1), nothing is thrown unheard', { timeout: 30_000 }, async () => {
  const entry = await reverseEntry('slow', '127.0.0.61', 'de');
  const ing = await startIngress([entry]);
  const reg = ing.runtime.reverse!.registry;
  const link = new LinkSession(await rawLinkExit(ing, 'slow'), { dialled: true, name: 'an exit slow to answer' });
  let opens = 0;
  link.on('stream', (s) => {
    s.on('error', () => undefined);
    opens++; // never answered
  });
  await eventually('its link at the ingress', () => reg.stats().exits.slow!.links === 1);
  const refused = assert.rejects(socksAssociate(ing.ports()[0]!, `${USER.login}-exitip-127.0.0.61`, USER.password), /rejected connection - Failure/);
  await eventually('the UDP open reached the exit', () => opens === 1);
  ing.reload(await ingressConfig([{ ...entry, tokenHash: await tokenHash('another-token') }]));
  await refused;
});

test('a hostile reverse exit that accepts a UDP open and resets it in the same write: the client hears the association end, the ingress carries on', { timeout: 30_000 }, async () => {
  const ing = await startIngress([await reverseEntry('flip', '127.0.0.62', 'de')]);
  const reg = ing.runtime.reverse!.registry;
  const link = new LinkSession(await rawLinkExit(ing, 'flip'), { dialled: true, name: 'hostile exit' });
  let opens = 0;
  link.on('stream', (s) => {
    opens++;
    s.on('error', () => undefined);
    s.accept('127.0.0.62:9');
    s.destroy(); // its RST follows the OPEN_OK in the same flush
  });
  await eventually('its link at the ingress', () => reg.stats().exits.flip!.links === 1);
  for (let i = 0; i < 5; i++) {
    const a = await socksAssociate(ing.ports()[0]!, `${USER.login}-exitip-127.0.0.62`, USER.password).catch((err: Error) => err);
    if (!(a instanceof Error)) await eventually('the association ended with its stream', () => a.socket.destroyed || a.socket.readableEnded, { timeoutMs: 10_000 });
  }
  assert.equal(opens, 5);
  assert.equal(reg.stats().exits.flip!.streams, 0);
});

test('the same hostile exit for a TCP CONNECT (OPEN_OK and RST in one write): the client connection ends at once', { timeout: 30_000 }, async () => {
  const ing = await startIngress([await reverseEntry('flipt', '127.0.0.63', 'de')]);
  const reg = ing.runtime.reverse!.registry;
  const link = new LinkSession(await rawLinkExit(ing, 'flipt'), { dialled: true, name: 'hostile exit' });
  link.on('stream', (s) => {
    s.on('error', () => undefined);
    s.accept('127.0.0.63:9');
    s.destroy();
  });
  await eventually('its link at the ingress', () => reg.stats().exits.flipt!.links === 1);
  const r = await SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port: ing.ports()[0]!, type: 5, userId: `${USER.login}-exitip-127.0.0.63`, password: USER.password },
    command: 'connect',
    destination: { host: '127.0.0.1', port: 9 },
    timeout: 10_000,
  }).catch((err: Error) => err);
  if (!(r instanceof Error)) {
    r.socket.on('error', () => undefined);
    await eventually('the client connection ended', () => r.socket.destroyed || r.socket.readableEnded, { timeoutMs: 10_000 });
  }
  assert.equal(reg.stats().exits.flipt!.streams, 0);
});

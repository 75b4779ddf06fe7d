/**
 * UDP over links (issue 19): a SOCKS5 UDP ASSOCIATE client (the npm `socks`
 * client) → ingress → one UDP stream on the link → hopgate exit → UDP targets
 * on loopback. The exit's SOCKS5 password on the ingress is wrong on purpose:
 * only the link can carry the association.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { aliceHashed, startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { eventually, holdsFor } from '../helpers/eventually.js';
import { socksUdpCustomer, type SocksUdpCustomer } from '../helpers/socks-client.js';
import { ingressIdentityDir, LINK_EXIT_SECRET, linkExitEntry, startLinkExit, type LinkExit } from '../helpers/link-exits.js';
import type { AddressInfo } from 'node:net';
import { createLinkIdentity, dialLinkTls, linkTlsServer } from '../../src/link/identity.js';
import { IngressConfigSchema } from '../../src/shared/schema/ingress-config.js';
import { LinkSession } from '../../src/link/session.js';
import { Registry } from 'prom-client';
import { registerExitLinkMetrics } from '../../src/exit/link-metrics.js';
import { udpEchoTarget } from '../helpers/udp-echo.js';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const BOB = { login: 'bob', password: USER.password };

async function network(exitAllowTargets?: string[]): Promise<{ exit: LinkExit; ingress: TestIngress }> {
  const id = ingressIdentityDir();
  const exit = await startLinkExit('us-1', '127.0.0.2', [id.identity.fingerprint], { allowTargets: exitAllowTargets });
  cleanups.push(() => exit.stop());
  const ingress = await startTestIngress({
    links: { identityDir: id.dir, perExit: 1 },
    exits: [linkExitEntry(exit, 'us')],
    limits: { exitProbeIntervalMs: 0 },
    users: [
      { login: USER.login, passwordHash: await aliceHashed() },
      { login: BOB.login, passwordHash: await aliceHashed() },
    ],
  });
  cleanups.push(() => ingress.stop());
  return { exit, ingress };
}

/** A UDP echo target on `host`, closed after the file's tests. */
async function udpTarget(host: string): ReturnType<typeof udpEchoTarget> {
  const t = await udpEchoTarget(host);
  cleanups.push(() => t.close());
  return t;
}

/** A SOCKS5 client's UDP side, as a customer routed to the US exit. */
function customer(port: number, who: { login: string; password: string }): Promise<SocksUdpCustomer> {
  return socksUdpCustomer(port, `${who.login}-country-us`, who.password, (end) => cleanups.push(end));
}

test('a SOCKS5 UDP association travels over the link: the echo comes back, the target sees the exit, and the stream closes with the association', async () => {
  const { exit, ingress } = await network();
  const target = await udpTarget('127.0.0.1');
  const c = await customer(ingress.port, USER);
  for (let i = 0; i < 3; i++) c.send('127.0.0.1', target.port, `ping${i}`);
  await eventually('three echoes', () => c.replies.length === 3);
  assert.deepEqual(c.replies.sort(), [0, 1, 2].map((i) => `127.0.0.1:${target.port} echo:ping${i}`));
  assert.deepEqual(new Set(target.seen.map((r) => r.address)), new Set(['127.0.0.2']), "the target saw the exit's egress address");
  const k = exit.links.counters;
  assert.deepEqual([k.links, k.udpStreams, k.datagramsOut, k.datagramsBack, k.datagramsRefused], [1, 1, 3, 3, 0]);
  assert.equal(exit.links.streamCount, 1);
  // The client closes its control connection: the association ends, and with it the stream and the exit's socket.
  c.assoc.socket.destroy();
  await eventually('the UDP stream closed at the exit', () => exit.links.streamCount === 0);
});

test("a datagram to a target the exit forbids is dropped there and counted; the association carries on", async () => {
  // The ingress allows all of loopback; the exit only 127.0.0.1.
  const { exit, ingress } = await network(['127.0.0.1/32']);
  const allowed = await udpTarget('127.0.0.1');
  const forbidden = await udpTarget('127.0.0.9');
  const c = await customer(ingress.port, USER);
  c.send('127.0.0.9', forbidden.port, 'nope');
  await eventually('the forbidden datagram refused at the exit', () => exit.links.counters.datagramsRefused === 1);
  c.send('127.0.0.1', allowed.port, 'yes');
  await eventually('the allowed echo', () => c.replies.length === 1);
  assert.deepEqual(c.replies, [`127.0.0.1:${allowed.port} echo:yes`]);
  assert.equal(forbidden.seen.length, 0, 'nothing reached the forbidden target');
  assert.equal(exit.links.counters.datagramsOut, 2);
  // The exit's /metrics says so.
  const registry = new Registry();
  registerExitLinkMetrics(registry, exit.links);
  const text = await registry.metrics();
  const series = (name: string): string | undefined => text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1];
  assert.deepEqual(['out', 'back', 'refused'].map((o) => series(`hopgate_exit_link_datagrams_total{outcome="${o}"}`)), ['2', '1', '1']);
  assert.equal(series('hopgate_exit_link_udp_streams_total'), '1');
});

test("two customers' associations over one link never see each other's replies, nor datagrams from targets they did not send to", async () => {
  const { exit, ingress } = await network();
  const t1 = await udpTarget('127.0.0.1');
  const t2 = await udpTarget('127.0.0.1');
  const alice = await customer(ingress.port, USER);
  const bob = await customer(ingress.port, BOB);
  for (let i = 0; i < 5; i++) {
    alice.send('127.0.0.1', t1.port, `a${i}`);
    bob.send('127.0.0.1', t2.port, `b${i}`);
  }
  await eventually('five echoes each', () => alice.replies.length === 5 && bob.replies.length === 5);
  assert.ok(alice.replies.every((r) => r.startsWith(`127.0.0.1:${t1.port} echo:a`)), alice.replies.join());
  assert.ok(bob.replies.every((r) => r.startsWith(`127.0.0.1:${t2.port} echo:b`)), bob.replies.join());
  const aliceAtExit = t1.seen[0]!;
  const bobAtExit = t2.seen[0]!;
  assert.notEqual(aliceAtExit.port, bobAtExit.port, 'one socket per association at the exit');
  // t2 (bob's target) learns alice's exit socket and sends to it: alice never sent to t2, so it is not let through.
  t2.socket.send(Buffer.from('unsolicited'), aliceAtExit.port, aliceAtExit.address);
  // A marker after it on alice's own path: once its echo arrived, the unsolicited one would have too.
  alice.send('127.0.0.1', t1.port, 'marker');
  await eventually('the marker echo', () => alice.replies.length === 6);
  assert.ok(!alice.replies.some((r) => r.includes('unsolicited')));
  assert.equal(bob.replies.length, 5);
  const k = exit.links.counters;
  assert.deepEqual([k.links, k.udpStreams], [1, 2], 'both associations on the one link');
});

test('an exit from before UDP over links (it refuses the UDP open as a bad target): the association goes through its SOCKS5 port, as it did', async () => {
  const id = ingressIdentityDir();
  const exit = await startLinkExit('us-1', '127.0.0.2', [id.identity.fingerprint]);
  cleanups.push(() => exit.stop());
  // Its link port, as an older exit answers a UDP open: no host, so a bad target.
  let opens = 0;
  const old = linkTlsServer({ identity: exit.identity, pinned: [id.identity.fingerprint] }, (socket) => {
    new LinkSession(socket, { dialled: false }).on('stream', (s) => {
      opens++;
      s.refuse('BAD_REQUEST', "bad target ':undefined'");
    });
  });
  await new Promise<void>((r) => old.listen(0, '127.0.0.2', r));
  cleanups.push(() => new Promise((r) => old.close(r)));
  const entry = { ...linkExitEntry(exit, 'us', exit.identity.fingerprint, LINK_EXIT_SECRET), link: { port: (old.address() as AddressInfo).port, fingerprint: exit.identity.fingerprint } };
  const ingress = await startTestIngress({ links: { identityDir: id.dir, perExit: 1 }, exits: [entry], limits: { exitProbeIntervalMs: 0 } });
  cleanups.push(() => ingress.stop());
  const target = await udpTarget('127.0.0.1');
  const c = await customer(ingress.port, USER);
  c.send('127.0.0.1', target.port, 'old');
  await eventually('the echo through the SOCKS5 port', () => c.replies.length === 1);
  assert.deepEqual(c.replies, [`127.0.0.1:${target.port} echo:old`]);
  assert.equal(opens, 1, 'the link was asked first');
  assert.equal(exit.links.counters.udpStreams, 0);
  assert.equal(target.seen[0]?.address, '127.0.0.2');
  // The refusal is remembered for that link: the next associations go to the SOCKS5 port without asking again.
  for (let i = 0; i < 2; i++) {
    const next = await customer(ingress.port, USER);
    next.send('127.0.0.1', target.port, `again${i}`);
    await eventually(`association ${i + 2}'s echo through the SOCKS5 port`, () => next.replies.length === 1);
  }
  assert.equal(opens, 1, 'the link was asked once');
});

test("the exit's link key retired at the ingress: a UDP association on a link made with it ends: a hop or a thief holding that key gets no new datagrams", { timeout: 30_000 }, async () => {
  const id = ingressIdentityDir();
  const exit = await startLinkExit('us-2', '127.0.0.3', [id.identity.fingerprint]);
  cleanups.push(() => exit.stop());
  const base = { listen: { host: '127.0.0.1', ports: [0, 0] as [number, number] }, targetPolicy: { allow: ['127.0.0.0/8'] }, log: { level: 'silent' as const, access: false }, links: { identityDir: id.dir, perExit: 1 }, limits: { exitProbeIntervalMs: 0 }, users: [{ login: USER.login, passwordHash: await aliceHashed() }] };
  const ingress = await startTestIngress({ ...base, exits: [linkExitEntry(exit, 'us')] });
  cleanups.push(() => ingress.stop());
  const target = await udpTarget('127.0.0.1');
  const c = await customer(ingress.port, USER);
  c.send('127.0.0.1', target.port, 'before');
  await eventually('the echo before', () => c.replies.length === 1);
  // The retirement: another key is the exit's only pin.
  ingress.ingress.reload(IngressConfigSchema.parse({ ...base, exits: [linkExitEntry(exit, 'us', createLinkIdentity('test exit next').fingerprint)] }));
  await eventually('the association on the retired key ended', () => c.assoc.socket.destroyed, { timeoutMs: 10_000 });
  const seen = target.seen.length;
  c.send('127.0.0.1', target.port, 'after');
  // An absence: a datagram the ended association still relayed would reach the loopback target well within 300 ms.
  await holdsFor('the target seeing nothing after the association ended', () => target.seen.length === seen, 300);
  assert.equal(target.seen.length, seen, 'a datagram sent after the association ended reached the target');
});

/** A link to `exit` made by hand with the ingress identity `identity` (its holder speaks the link protocol itself). */
async function rawIngressLink(exit: LinkExit, identity: ReturnType<typeof ingressIdentityDir>['identity'], name: string): Promise<LinkSession> {
  const socket = await dialLinkTls({ host: exit.ip, port: exit.links.port, identity, pinned: [exit.identity.fingerprint], timeoutMs: 10_000 });
  const link = new LinkSession(socket, { dialled: true, name });
  cleanups.push(() => link.destroy());
  return link;
}

test("an ingress key retired at the exit (setPins): a UDP stream its holder opened ends, so the exit relays nothing more for it", { timeout: 30_000 }, async () => {
  const id = ingressIdentityDir();
  const exit = await startLinkExit('us-3', '127.0.0.4', [id.identity.fingerprint]);
  cleanups.push(() => exit.stop());
  const target = await udpTarget('127.0.0.1');
  const link = await rawIngressLink(exit, id.identity, 'holder of the ingress key');
  const stream = await link.openDatagrams();
  stream.on('error', () => undefined);
  let replies = 0;
  stream.on('datagram', () => replies++);
  stream.sendDatagram({ host: '127.0.0.1', port: target.port }, Buffer.from('before'));
  await eventually('the echo before', () => replies === 1);
  exit.links.setPins([createLinkIdentity('test ingress next').fingerprint]);
  await eventually('the UDP stream ended at the retirement', () => stream.destroyed, { timeoutMs: 10_000 });
  const seen = target.seen.length;
  stream.sendDatagram({ host: '127.0.0.1', port: target.port }, Buffer.from('after'));
  // An absence: a datagram the exit still relayed for the ended stream would reach the loopback target well within 300 ms.
  await holdsFor('the target seeing nothing after the UDP stream ended', () => target.seen.length === seen, 300);
  assert.equal(target.seen.length, seen, 'a datagram sent on the ended stream reached the target');
});

test('an ingress that opens streams and resets them at once (while the exit still connects or binds): the exit carries on', { timeout: 30_000 }, async () => {
  const id = ingressIdentityDir();
  const exit = await startLinkExit('us-4', '127.0.0.10', [id.identity.fingerprint]);
  cleanups.push(() => exit.stop());
  const target = await udpTarget('127.0.0.1');
  const link = await rawIngressLink(exit, id.identity, 'an impatient ingress');
  // Each open given up at once: its RST follows the OPEN in the same write.
  for (let i = 0; i < 20; i++) {
    const giveUp = new AbortController();
    const tcp = link.open('127.0.0.1', exit.socksPort, {}, giveUp.signal).catch(() => undefined);
    const udp = link.openDatagrams({}, giveUp.signal).catch(() => undefined);
    giveUp.abort();
    await Promise.all([tcp, udp]);
  }
  // The exit is still there: a new link, a UDP stream, an echo.
  const again = await rawIngressLink(exit, id.identity, 'a later ingress link');
  const stream = await again.openDatagrams();
  stream.on('error', () => undefined);
  let replies = 0;
  stream.on('datagram', () => replies++);
  stream.sendDatagram({ host: '127.0.0.1', port: target.port }, Buffer.from('still here'));
  await eventually('the echo', () => replies === 1);
});

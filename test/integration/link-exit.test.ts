/**
 * Ingress → hopgate exit over a link (issue 19), with real clients: curl and
 * a raw SOCKS5 client through a real ingress to a real exit, whose SOCKS5
 * password on the ingress is wrong on purpose, so only the link can carry.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { startWhoami } from '../../src/cli/demo-target.js';
import { ExitSchema, IngressConfigSchema } from '../../src/shared/schema/ingress-config.js';
import { ExitLinks } from '../../src/ingress/upstream/link-pool.js';
import { parseIngressYaml } from '../../src/ingress/config/from-yaml.js';
import { stringify } from 'yaml';
import { curl } from '../helpers/curl.js';
import { eventually } from '../helpers/eventually.js';
import { aliceHashed, startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { closed, startEchoServer, withTimeout } from '../helpers/net.js';
import { readExactly, socks5ConnectRaw } from '../helpers/socks5-raw.js';
import { ingressIdentityDir, LINK_EXIT_SECRET, linkExitEntry, startLinkExit, type LinkExit } from '../helpers/link-exits.js';
import { createLinkIdentity, LinkIdentitySource, linkTlsServer } from '../../src/link/identity.js';
import { LinkSession } from '../../src/link/session.js';
import type { LinkStream } from '../../src/link/stream.js';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function network(o: { exitAllowTargets?: string[]; pin?: string; exitPins?: (ingressFp: string) => string[]; perExit?: number } = {}): Promise<{ exit: LinkExit; ingress: TestIngress }> {
  const id = ingressIdentityDir();
  const exit = await startLinkExit('us-1', '127.0.0.2', o.exitPins ? o.exitPins(id.identity.fingerprint) : [id.identity.fingerprint], { allowTargets: o.exitAllowTargets });
  cleanups.push(() => exit.stop());
  const ingress = await startTestIngress({
    links: { identityDir: id.dir, perExit: o.perExit ?? 1 },
    exits: [linkExitEntry(exit, 'us', o.pin)],
    limits: { exitProbeIntervalMs: 0 },
  });
  cleanups.push(() => ingress.stop());
  return { exit, ingress };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return (server.address() as AddressInfo).port;
}

test('curl over HTTP and SOCKS5 reaches the target through the exit over a link (its SOCKS5 password is wrong: the link carried it)', async () => {
  const { exit, ingress } = await network();
  const whoami = await startWhoami('127.0.0.1', 0);
  cleanups.push(() => whoami.close());
  const url = `http://127.0.0.1:${(whoami.address() as AddressInfo).port}/`;
  for (const proxy of [`http://${USER.login}:${USER.password}@127.0.0.1:${ingress.port}`, `socks5h://${USER.login}:${USER.password}@127.0.0.1:${ingress.port}`]) {
    const r = await curl(['-x', proxy, url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).youCameFrom, '127.0.0.2', 'the target saw the exit');
  }
  assert.equal(exit.links.counters.served, 2);
  assert.equal(exit.links.counters.links, 1, 'both tunnels on the one link');
});

test("the exit's answer arrives with its exact code: refused (REP 5, 502), forbidden by the exit's own policy (REP 2, 403)", async () => {
  // The ingress allows all of loopback; the exit only 127.0.0.1.
  const { exit, ingress } = await network({ exitAllowTargets: ['127.0.0.1/32'] });
  const closedPort = await listen(createServer());
  cleanups.at(-1)!(); // closed now: nothing listens there
  await assert.rejects(socks5ConnectRaw(ingress.port, USER.login, USER.password, '127.0.0.1', closedPort), /REP 5/);
  const http = await curl(['-i', '-x', `http://${USER.login}:${USER.password}@127.0.0.1:${ingress.port}`, `http://127.0.0.1:${closedPort}/`]);
  assert.match(http.stdout, /^HTTP\/1\.1 502/);
  await assert.rejects(socks5ConnectRaw(ingress.port, USER.login, USER.password, '127.0.0.9', 80), /REP 2/);
  const forbidden = await curl(['-i', '-x', `http://${USER.login}:${USER.password}@127.0.0.1:${ingress.port}`, 'http://127.0.0.9:80/']);
  assert.match(forbidden.stdout, /^HTTP\/1\.1 403/);
  assert.equal(exit.links.counters.failed, 4);
});

test('a wrong exit fingerprint is refused by the ingress; an ingress the exit has not pinned is refused by the exit; neither carries a byte', async () => {
  const echo = await startEchoServer();
  cleanups.push(() => echo.close());
  const other = createLinkIdentity('someone else');
  const wrongExit = await network({ pin: other.fingerprint });
  await assert.rejects(socks5ConnectRaw(wrongExit.ingress.port, USER.login, USER.password, '127.0.0.1', echo.port), /REP 1/);
  assert.equal(wrongExit.exit.links.counters.streams, 0);
  const unpinned = await network({ exitPins: () => [other.fingerprint] });
  await assert.rejects(socks5ConnectRaw(unpinned.ingress.port, USER.login, USER.password, '127.0.0.1', echo.port), /REP 1/);
  assert.equal(unpinned.exit.links.counters.streams, 0);
  assert.ok(unpinned.exit.links.counters.refusedLinks >= 1, 'the exit logged a refused link');
  assert.equal(echo.sources.length, 0, 'the target never heard of it');
});

test('the link dies mid-stream: the client is cut (not a clean end), and new tunnels work once the link is back', async () => {
  const { exit, ingress } = await network();
  const echo = await startEchoServer();
  cleanups.push(() => echo.close());
  const s = await socks5ConnectRaw(ingress.port, USER.login, USER.password, '127.0.0.1', echo.port);
  s.write('before');
  assert.equal((await readExactly(s, 6)).toString(), 'before');
  let ended = false;
  s.on('end', () => (ended = true));
  const gone = closed(s);
  exit.links.breakAll();
  await withTimeout(gone, 5000, 'the client to be cut');
  assert.equal(ended, false, 'a broken link is a reset for the client, never a FIN');
  const again = await eventually('a tunnel over a new link', async () => {
    const t = await socks5ConnectRaw(ingress.port, USER.login, USER.password, '127.0.0.1', echo.port).catch(() => undefined);
    if (!t) return undefined;
    t.write('after');
    return (await readExactly(t, 5)).toString() === 'after' ? t : undefined;
  }, { timeoutMs: 15_000 });
  again.destroy();
  assert.ok(exit.links.counters.links >= 2, 'the ingress linked again');
});

test('half-close per stream: the client ends its side, the target still answers, then ends its own', async () => {
  const { ingress } = await network();
  // Reads until the client's FIN, then answers with what it got and ends.
  const port = await listen(
    createServer({ allowHalfOpen: true }, (sock) => {
      let n = 0;
      sock.on('data', (d: Buffer) => (n += d.length));
      sock.on('end', () => sock.end(`got ${n}`));
      sock.on('error', () => undefined);
    }),
  );
  const s = await socks5ConnectRaw(ingress.port, USER.login, USER.password, '127.0.0.1', port);
  s.end(Buffer.alloc(100_000, 1));
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d)).resume();
  await withTimeout(new Promise((r) => s.once('end', r)), 5000, 'the answer after our FIN');
  assert.equal(Buffer.concat(chunks).toString(), 'got 100000');
});

test('a client that stops reading does not stall another tunnel on the same link', async () => {
  const { exit, ingress } = await network({ perExit: 1 });
  const firehose = await listen(
    createServer((sock) => {
      sock.on('error', () => undefined);
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = (): void => {
        while (sock.write(chunk)) if (sock.bytesWritten > 64 * 1024 * 1024) return;
      };
      sock.on('drain', pump);
      pump();
    }),
  );
  const echo = await startEchoServer();
  cleanups.push(() => echo.close());
  const stalled: Socket = await socks5ConnectRaw(ingress.port, USER.login, USER.password, '127.0.0.1', firehose);
  stalled.pause(); // never reads: its stream's window fills and stays full
  const busy = await socks5ConnectRaw(ingress.port, USER.login, USER.password, '127.0.0.1', echo.port);
  const block = Buffer.alloc(1024 * 1024, 3);
  for (let i = 0; i < 8; i++) {
    busy.write(block);
    assert.equal((await readExactly(busy, block.length, 10_000)).length, block.length, `MiB ${i + 1} echoed while the other reader stalls`);
  }
  assert.equal(exit.links.counters.links, 1, 'both tunnels were on one link');
  stalled.destroy();
  busy.destroy();
});

test('reload without the link: live tunnels on the link finish, new ones take SOCKS5, and the link closes once drained (not broken)', async () => {
  const id = ingressIdentityDir();
  const exit = await startLinkExit('us-1', '127.0.0.2', [id.identity.fingerprint]);
  cleanups.push(() => exit.stop());
  const base = { listen: { host: '127.0.0.1', ports: [0, 0] as [number, number] }, targetPolicy: { allow: ['127.0.0.0/8'] }, log: { level: 'silent' as const, access: false }, limits: { exitProbeIntervalMs: 0 } };
  const linked = { ...linkExitEntry(exit, 'us', undefined, LINK_EXIT_SECRET) };
  const ingress = await startTestIngress({ ...base, links: { identityDir: id.dir }, exits: [linked] });
  cleanups.push(() => ingress.stop());
  const echo = await startEchoServer();
  cleanups.push(() => echo.close());
  const live = await socks5ConnectRaw(ingress.port, USER.login, USER.password, '127.0.0.1', echo.port);
  live.write('one');
  assert.equal((await readExactly(live, 3)).toString(), 'one');
  assert.equal(exit.links.counters.streams, 1);
  const { link: _dropped, ...unlinked } = linked;
  ingress.ingress.reload(IngressConfigSchema.parse({ ...base, users: [{ login: USER.login, passwordHash: await aliceHashed() }], links: { identityDir: id.dir }, exits: [unlinked] }));
  const fresh = await socks5ConnectRaw(ingress.port, USER.login, USER.password, '127.0.0.1', echo.port);
  fresh.write('two');
  assert.equal((await readExactly(fresh, 3)).toString(), 'two');
  assert.equal(exit.links.counters.streams, 1, 'the new tunnel went over SOCKS5');
  live.write('still');
  assert.equal((await readExactly(live, 5)).toString(), 'still', 'the live tunnel on the draining link still carries');
  assert.equal(exit.links.linkCount, 1);
  live.end();
  await eventually('the drained link to close', () => exit.links.linkCount === 0);
  fresh.destroy();
});

test('ingress shutdown drains its links: the exit sees them end cleanly (GOAWAY), not break', async () => {
  const { exit, ingress } = await network({ perExit: 2 });
  const echo = await startEchoServer();
  cleanups.push(() => echo.close());
  // The second tunnel finds one link up and grows the pool to perExit in the background.
  for (let i = 0; i < 2; i++) {
    const s = await socks5ConnectRaw(ingress.port, USER.login, USER.password, '127.0.0.1', echo.port);
    s.write('x');
    assert.equal((await readExactly(s, 1)).toString(), 'x');
    s.end();
    await closed(s);
  }
  await eventually('a second link (the pool grows to perExit)', () => exit.links.linkCount === 2);
  await ingress.stop();
  await eventually('the links to close', () => exit.links.linkCount === 0);
  assert.equal(exit.links.counters.brokenLinks, 0, 'drained, not broken');
});

test('configuration: a link needs links.identityDir and a hopgate exit; its via hops carry the link (link-via.test.ts)', () => {
  const fp = createLinkIdentity('x').fingerprint;
  const base = { id: 'e', host: '127.0.0.2', port: 1080, link: { port: 7002, fingerprint: fp } };
  const err = (c: unknown): string => {
    const r = IngressConfigSchema.safeParse(c);
    assert.equal(r.success, false);
    return r.error.issues.map((i) => i.message).join('; ');
  };
  // The standalone YAML needs this node's identity dir; an ingress fed by the control plane uses its state dir.
  assert.throws(() => parseIngressYaml(stringify({ exits: [{ ...base, kind: 'hopgate' }] })), /exits\.0\.link: an exit with a link needs links\.identityDir/);
  assert.ok(IngressConfigSchema.safeParse({ exits: [{ ...base, kind: 'hopgate' }] }).success);
  assert.match(err({ links: { identityDir: '/tmp/x' }, exits: [{ ...base, kind: 'hopgate', link: { port: 7002, fingerprint: fp, nextFingerprint: 'AB' } }] }), /link\.nextFingerprint must be a SHA-256/);
  assert.match(err({ links: { identityDir: '/tmp/x' }, exits: [{ ...base, kind: 'socks5' }] }), /only a hopgate exit has a link/);
  assert.ok(IngressConfigSchema.safeParse({ links: { identityDir: '/tmp/x' }, exits: [{ ...base, kind: 'hopgate', via: [{ host: '127.0.0.3', port: 1 }] }] }).success);
  assert.match(err({ links: { identityDir: '/tmp/x' }, exits: [{ ...base, kind: 'hopgate', link: { port: 7002, fingerprint: 'AB:CD' } }] }), /SHA-256 fingerprint/);
  assert.ok(IngressConfigSchema.safeParse({ links: { identityDir: '/tmp/x' }, exits: [{ ...base, kind: 'hopgate' }] }).success);
});

test('a hostile exit that never answers an open: the client gets TIMEOUT (REP 6), and the stream is reset at the exit, not left opening', async () => {
  const id = ingressIdentityDir();
  const exitId = createLinkIdentity('mute exit');
  const held: LinkStream[] = [];
  const server = linkTlsServer({ identity: exitId, pinned: [id.identity.fingerprint] }, (socket) => {
    // A link that answers PINGs (the session does) and no OPEN.
    new LinkSession(socket, { dialled: false, name: 'mute exit' }).on('stream', (s) => held.push(s.on('error', () => undefined)));
  });
  const port = await listen(server);
  const ingress = await startTestIngress({
    links: { identityDir: id.dir, perExit: 1 },
    exits: [{ id: 'mute', kind: 'hopgate', host: '127.0.0.1', port: 9, username: 'x', password: 'y', country: 'us', link: { port, fingerprint: exitId.fingerprint } }],
    limits: { exitProbeIntervalMs: 0, connectTimeoutMs: 200 },
  });
  cleanups.push(() => ingress.stop());
  await assert.rejects(socks5ConnectRaw(ingress.port, USER.login, USER.password, '127.0.0.1', 80, { timeoutMs: 10_000 }), /REP 6/);
  assert.equal(held.length, 1, 'the exit saw the open');
  await eventually('the exit was told to drop the open (RST)', () => held[0]!.destroyed, { timeoutMs: 2000 });
});

test('an exit key retired while a link to it is being dialled: that link does not join the pool on the retired key', async () => {
  const id = ingressIdentityDir();
  const exit = await startLinkExit('rk-1', '127.0.0.2', [id.identity.fingerprint]);
  cleanups.push(() => exit.stop());
  const entry = ExitSchema.parse(linkExitEntry(exit, 'us'));
  const pool = new ExitLinks({ ...entry, link: entry.link! }, { identity: new LinkIdentitySource(id.dir, 'test'), perExit: 1, heartbeatMs: 0 });
  cleanups.push(() => pool.destroy());
  const opening = pool.open({ host: '127.0.0.1', port: 9, kind: 'ipv4' }, 5000);
  // The dial is under way (TLS not done yet) when a reload pins only the exit's next key.
  pool.repin(ExitSchema.parse({ ...linkExitEntry(exit, 'us'), link: { port: exit.links.port, fingerprint: createLinkIdentity('next').fingerprint } }));
  await assert.rejects(opening, /retired/);
  assert.equal(exit.links.counters.served, 0, 'no stream on a link made with the retired key');
});

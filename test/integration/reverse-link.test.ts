/**
 * Reverse exits over links (issue 19): the exit's connection to the tunnel
 * port becomes a link and every customer tunnel is one stream inside it.
 * Real clients (curl, the npm `socks` client) through the ingress: many
 * tunnels on one link, the exit's exact result codes, an exit of the older
 * work-connection protocol beside it, token rotation under a live tunnel,
 * an exit process killed under a live tunnel, an ingress restart (the exit
 * reconnects with backoff), an ingress with two workers, a new exit against
 * an ingress older than links, and a hostile exit on its own link.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:http';
import type { Registry } from 'prom-client';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { SocksClient } from 'socks';
import { linkText } from '../../src/cli/ingress-quality.js';
import { curl } from '../helpers/curl.js';
import { startEchoServer, withTimeout, closed } from '../helpers/net.js';
import { USER } from '../helpers/ingress.js';
import { reverseEntry, reverseIngressBase, startReverseExit, tunnelCert, tokenHash, TOKEN } from '../helpers/reverse.js';
import { startProc, killHard, stopGracefully } from '../helpers/procs.js';
import { eventually } from '../helpers/eventually.js';
import { startWhoami } from '../../src/cli/demo-target.js';
import { Ingress } from '../../src/ingress/ingress.js';
import { startIngressProcesses, type RunningIngress } from '../../src/processes/ingress-workers.js';
import { IngressConfigSchema, type IngressConfigInput } from '../../src/shared/schema/ingress-config.js';
import type { ReverseExitClient } from '../../src/exit/reverse-client.js';
import { TargetPolicy } from '../../src/shared/net/target-policy.js';
import { createLogger } from '../../src/shared/log.js';
import { acceptedPacket, parseRegistration, parseResponse, registrationPacket, requestPacket } from '../../src/protocol/work-packet/messages.js';
import { PREFACE, openFrame } from '../../src/protocol/link/codec.js';
import { createLinkIdentity } from '../../src/link/identity.js';
import { packetReader } from '../helpers/work-packets.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const pw = encodeURIComponent(USER.password);
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let whoami: Server;
let web: string;
let dir: string;

before(async () => {
  echo = await startEchoServer();
  whoami = await startWhoami('127.0.0.1', 0);
  web = `http://127.0.0.1:${(whoami.address() as { port: number }).port}/`;
  dir = mkdtempSync(join(tmpdir(), 'hopgate-revlink-'));
});

after(async () => {
  await echo.close();
  whoami.closeAllConnections();
  whoami.close();
  rmSync(dir, { recursive: true, force: true });
});

async function config(exits: object[], reverse: object = {}): Promise<IngressConfigInput> {
  return { ...(await reverseIngressBase()), exits, reverse: { listen: { host: '127.0.0.1', port: 0 }, waitMs: 1000, heartbeatMs: 2000, ...reverse } } as IngressConfigInput;
}

/**
 * A SOCKS5 tunnel to the echo server pinned to the exit with `egress`; the socket, once connected.
 * The deadline is per tunnel and generous: 200 opened at once share this process's one thread with
 * the ingress and the exit's side, and on a loaded machine (4 such runs at load 10) the last ones
 * waited more than socks' usual 5 s before their turn.
 */
async function tunnel(port: number, egress: string) {
  const { socket } = await SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port, type: 5, userId: `${USER.login}-exitip-${egress}`, password: USER.password },
    command: 'connect',
    destination: { host: '127.0.0.1', port: echo.port },
    timeout: 30_000,
  });
  return socket;
}

/** Write `msg` and read it back on `socket`. */
async function echoOn(socket: Awaited<ReturnType<typeof tunnel>>, msg: string): Promise<string> {
  const got = new Promise<string>((resolve) => {
    let s = '';
    const on = (d: Buffer): void => {
      s += d.toString();
      if (s.length >= msg.length) {
        socket.off('data', on);
        resolve(s);
      }
    };
    socket.on('data', on);
  });
  socket.write(msg);
  return withTimeout(got, 5000, `echo of ${msg}`);
}

/** One tunnel: echo a line; the address the target saw it from. */
async function echoVia(port: number, egress: string, i: number): Promise<string> {
  const s = await tunnel(port, egress);
  try {
    await echoOn(s, `req-${i}`);
    return echo.sources.at(-1)!;
  } finally {
    s.destroy();
  }
}

/** What the whoami target saw through `proxy`, or the proxy's error code. */
async function seen(proxy: string, url = web): Promise<string> {
  const r = await curl(['-i', '-x', proxy, url], 8000);
  const code = /X-Hopgate-Error: (\S+)/i.exec(r.stdout)?.[1];
  if (code) return code;
  return /"youCameFrom":"([^"]+)"/.exec(r.stdout)?.[1] ?? `curl exit ${r.code}: ${r.stderr.trim()}`;
}

test('one link carries 200 concurrent tunnels and a published site; exact result codes; an exit of the older protocol beside it', { timeout: 60_000 }, async () => {
  const exits = [
    await reverseEntry('lnk', '127.0.0.41', 'de', { targets: { deny: ['127.0.0.99/32'] } }),
    await reverseEntry('old', '127.0.0.42', 'gb'),
  ];
  const site = { host: 'wiki.internal', exit: 'lnk', target: `127.0.0.1:${(whoami.address() as { port: number }).port}` };
  const publishing = { publishListen: { host: '127.0.0.1', port: 0 }, publish: [site] };
  const ADMIN = 'admin-token-for-reverse-link-figures';
  const ing = await Ingress.start(IngressConfigSchema.parse({ ...(await config(exits, publishing)), metrics: { host: '127.0.0.1', port: 0, token: ADMIN } }), createLogger('silent'));
  const tunnelPort = ing.runtime.reverse!.tunnelPort!;
  const port = ing.ports()[0]!;
  // The exit's own rule: never 127.0.0.66.
  const lnk = startReverseExit(tunnelPort, 'lnk', '127.0.0.41', { mode: 'link', links: 1, policy: new TargetPolicy({ allow: ['127.0.0.0/8'], deny: ['127.0.0.66/32'], ports: [] }) });
  const old = startReverseExit(tunnelPort, 'old', '127.0.0.42', { pool: 2 });
  try {
    await withTimeout(Promise.all([lnk.ready, old.ready]), 5000, 'exits registered');
    const reg = ing.runtime.reverse!.registry;
    await eventually('one link and two work connections', () => reg.stats().exits.lnk!.links === 1 && reg.stats().exits.old!.idle === 2);

    // 200 tunnels at once, every one a stream on the same link: one TLS connection in all.
    const many = await Promise.all(Array.from({ length: 200 }, () => tunnel(port, '127.0.0.41')));
    assert.equal(reg.stats().exits.lnk!.streams, 200);
    const replies = await Promise.all(many.map((s, i) => echoOn(s, `tunnel-${i}`)));
    assert.deepEqual(replies, many.map((_, i) => `tunnel-${i}`));
    for (const s of many) s.destroy();
    assert.equal(lnk.counters.registered, 1, 'a single registration (one TLS handshake) for 200 tunnels');
    assert.equal(lnk.counters.served, 200);
    await eventually('streams closed on both sides', () => reg.stats().exits.lnk!.streams === 0 && lnk.activeTunnels === 0);
    // `hopgate exits` (the ingress's admin /v1/exits): the link exit's LINKS figures, none for the work-connection exit.
    const report = (await (await fetch(`http://127.0.0.1:${ing.adminPort}/v1/exits`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { exits: Array<{ id: string; link: Record<string, number | null> | null }> };
    const row = report.exits.find((e) => e.id === 'lnk')!;
    assert.equal(row.link?.links, 1);
    assert.equal(row.link?.streams, 0);
    assert.equal(row.link?.connects, 1);
    assert.ok(Number(row.link?.bytesSent) >= 200 * 'tunnel-0'.length && Number(row.link?.bytesReceived) >= 200 * 'tunnel-0'.length, JSON.stringify(row.link));
    assert.match(linkText(row as never), /^1 link, 0 streams/);
    assert.equal(report.exits.find((e) => e.id === 'old')!.link, null);

    // Every client mode over the link; the target sees the exit's egress address.
    const http = `http://${USER.login}-exitip-127.0.0.41:${pw}@127.0.0.1:${port}`;
    const socks = `socks5h://${USER.login}-exitip-127.0.0.41:${pw}@127.0.0.1:${port}`;
    assert.equal(await seen(http), '127.0.0.41');
    assert.equal(await seen(socks), '127.0.0.41');
    // Exact result codes: the ingress's rule, the exit's own rule (its answer on the link), a closed port.
    assert.equal(await seen(http, 'http://127.0.0.99:80/'), 'TARGET_FORBIDDEN');
    assert.equal(await seen(http, 'http://127.0.0.66:80/'), 'TARGET_FORBIDDEN');
    assert.equal(await seen(http, 'http://127.0.0.1:1/'), 'CONN_REFUSED');
    assert.equal(lnk.counters.refusedTargets, 1, 'the exit refused 127.0.0.66 itself');

    // A published site rides the link too: the request's first bytes go with the open, a large body after.
    const pub = ing.runtime.reverse!.publishPort!;
    const post = await curl(['-sS', '-H', 'Host: wiki.internal', '--data-binary', 'x'.repeat(100_000), `http://127.0.0.1:${pub}/upload`]);
    assert.match(post.stdout, /"method":"POST","path":"\/upload"/);
    assert.match(post.stdout, /"youCameFrom":"127\.0\.0\.41"/);

    // The older protocol still serves, on its work connections.
    assert.equal(await seen(`http://${USER.login}-exitip-127.0.0.42:${pw}@127.0.0.1:${port}`), '127.0.0.42');
    assert.equal(reg.stats().exits.old!.links, 0);
  } finally {
    await Promise.all([lnk.stop(200), old.stop(200)]);
    await ing.shutdown(0);
  }
});

test('token rotation: the live tunnel finishes on the drained link, new tunnels go over the new token\'s link, the old token is locked out', { timeout: 30_000 }, async () => {
  const NEW = 'the-rotated-token';
  const entry = async (token: string) => reverseEntry('rot', '127.0.0.43', 'de', { tokenHash: await tokenHash(token) });
  const ing = await Ingress.start(IngressConfigSchema.parse(await config([await entry(TOKEN)])), createLogger('silent'));
  const tunnelPort = ing.runtime.reverse!.tunnelPort!;
  const port = ing.ports()[0]!;
  const before = startReverseExit(tunnelPort, 'rot', '127.0.0.43', { mode: 'link', links: 1, backoffMs: 2000, maxBackoffMs: 2000 });
  let after: ReverseExitClient | undefined;
  try {
    await withTimeout(before.ready, 5000, 'first exit registered');
    const live = await tunnel(port, '127.0.0.43');
    assert.equal(await echoOn(live, 'before the rotation'), 'before the rotation');
    assert.equal(echo.sources.at(-1), '127.0.0.43');

    ing.reload(IngressConfigSchema.parse(await config([await entry(NEW)])));
    after = startReverseExit(tunnelPort, 'rot', '127.0.0.44', { mode: 'link', links: 1, token: NEW });
    await withTimeout(after.ready, 5000, 'exit with the new token registered');
    // New tunnels: over the new link (the target sees the new exit's address).
    for (let i = 0; i < 5; i++) assert.equal(await echoVia(port, '127.0.0.43', i), '127.0.0.44');
    // The live one still carries bytes both ways on the drained link.
    assert.equal(await echoOn(live, 'after the rotation'), 'after the rotation');
    assert.equal(before.stats().links, 0, 'the drained link takes no new streams');
    live.end();
    await withTimeout(closed(live), 5000, 'live tunnel closed');
    await eventually('the drained link closed once its tunnel finished', () => before.stats().withdrawing === 0 && before.activeTunnels === 0);
    await eventually('the old token refused', () => /AUTH_FAILED/.test(before.lastRefusal ?? ''));
    assert.equal(ing.runtime.reverse!.registry.stats().exits.rot!.links, 1, 'only the new token\'s link');
  } finally {
    await Promise.all([before.stop(100), after?.stop(100)]);
    await ing.shutdown(0);
  }
});

test('an exit process killed under a live tunnel: the tunnel ends, new requests fail clearly; an ingress restart: the exit reconnects', { timeout: 60_000 }, async () => {
  const ing = await Ingress.start(IngressConfigSchema.parse(await config([await reverseEntry('kil', '127.0.0.45', 'de')], { waitMs: 300 })), createLogger('silent'));
  const tunnelPort = ing.runtime.reverse!.tunnelPort!;
  const port = ing.ports()[0]!;
  const argv = [process.execPath, cli, 'exit', '--connect-to', `127.0.0.1:${tunnelPort}`, '--id', 'kil', '--ca', tunnelCert().cert, '--links', '1', '--state-dir', join(dir, 'kil-identity'), '--egress', '127.0.0.45', '--allow-target', '127.0.0.0/8', '--log-level', 'warn'];
  const proc = await startProc('reverse exit', argv, { ready: /^\{/, env: { HOPGATE_EXIT_TOKEN: TOKEN }, timeoutMs: 20_000 });
  let ing2: Ingress | undefined;
  let exit: ReverseExitClient | undefined;
  try {
    assert.match(proc.readyLine, /"mode":"link"/);
    assert.match(proc.readyLine, /"linkFingerprint":"([0-9A-F]{2}:){31}[0-9A-F]{2}"/, 'its link identity, to pin on the ingress');
    const live = await tunnel(port, '127.0.0.45');
    assert.equal(await echoOn(live, 'ping'), 'ping');
    let failure: NodeJS.ErrnoException | undefined;
    live.on('error', (err: NodeJS.ErrnoException) => (failure = err));
    // Listened for before the kill: the ingress may cut the tunnel before killHard sees the process exit.
    const ended = closed(live);
    await killHard(proc);
    await withTimeout(ended, 5000, 'the live tunnel ends with its exit');
    // A reset, never a FIN: the client must not take a cut tunnel for a complete one.
    assert.equal(failure?.code, 'ECONNRESET');
    await eventually('the link gone at the ingress', () => ing.runtime.reverse!.registry.stats().exits.kil!.links === 0);
    const http = `http://${USER.login}-exitip-127.0.0.45:${pw}@127.0.0.1:${port}`;
    assert.equal(await seen(http), 'EXIT_UNREACHABLE');

    // The ingress goes away and comes back on the same tunnel port: the exit's link reconnects.
    exit = startReverseExit(tunnelPort, 'kil', '127.0.0.45', { mode: 'link', links: 1, backoffMs: 50, maxBackoffMs: 400 });
    await withTimeout(exit.ready, 5000, 'in-process exit registered');
    assert.equal(await echoVia(port, '127.0.0.45', 0), '127.0.0.45');
    await ing.shutdown(0);
    await eventually('the exit lost its link', () => exit!.stats().links === 0);
    const cfg = await config([await reverseEntry('kil', '127.0.0.45', 'de')], { listen: { host: '127.0.0.1', port: tunnelPort } });
    ing2 = await Ingress.start(IngressConfigSchema.parse(cfg), createLogger('silent'));
    await eventually('the link back', () => exit!.stats().links === 1, { timeoutMs: 5000 });
    assert.ok(exit.counters.registered >= 2);
    assert.equal(await echoVia(ing2.ports()[0]!, '127.0.0.45', 1), '127.0.0.45');
  } finally {
    if (proc.alive()) await stopGracefully(proc, 2000);
    await exit?.stop(100);
    await ing.shutdown(0).catch(() => undefined);
    await ing2?.shutdown(0);
  }
});

test('two ingress workers: the exit\'s two links serve both workers, and every request of a sequential run succeeds', { timeout: 60_000 }, async () => {
  const file = join(dir, 'two-workers.yaml');
  writeFileSync(file, JSON.stringify(await config([await reverseEntry('two', '127.0.0.46', 'de')], { waitMs: 300 })));
  let ing: RunningIngress | undefined;
  let exit: ReverseExitClient | undefined;
  try {
    ing = await startIngressProcesses(file, { workers: 2, log: createLogger('silent') });
    exit = startReverseExit(ing.tunnelPort!, 'two', '127.0.0.46', { mode: 'link', links: 2 });
    await withTimeout(exit.ready, 5000, 'exit registered');
    await eventually('two links', () => exit!.stats().links === 2);
    const failures: string[] = [];
    // 20: with both links on one worker about half the requests fail, so 20 all served leave a millionth of a chance (60 proved no more).
    for (let i = 0; i < 20; i++) {
      try {
        const from = await echoVia(ing.ports[0], '127.0.0.46', i);
        if (from !== '127.0.0.46') failures.push(`#${i}: from ${from}`);
      } catch (err) {
        failures.push(`#${i}: ${(err as Error).message}`);
      }
    }
    assert.deepEqual(failures, []);
    // Concurrent too: 64 tunnels at once over the two workers' links.
    const many = await Promise.all(Array.from({ length: 64 }, () => tunnel(ing!.ports[0], '127.0.0.46')));
    const replies = await Promise.all(many.map((s, i) => echoOn(s, `c-${i}`)));
    assert.deepEqual(replies, many.map((_, i) => `c-${i}`));
    for (const s of many) s.destroy();
    assert.ok(exit.counters.registered <= 6, `${exit.counters.registered} registrations: links are long-lived, not one per tunnel`);
  } finally {
    await exit?.stop(200);
    await ing?.stop();
  }
});

test('a new exit and an ingress older than links (it answers without link): the connection stays a work connection and serves', { timeout: 20_000 }, async () => {
  const cert = tunnelCert();
  let registration: ReturnType<typeof parseRegistration> | undefined;
  let exit: ReverseExitClient | undefined;
  let server: ReturnType<typeof createTlsServer> | undefined;
  const served = new Promise<{ status: string; echoed: string }>((resolve, reject) => {
    const old = createTlsServer({ cert: cert.pem, key: readFileSync(cert.key) }, (s) => {
      const next = packetReader(s);
      void (async () => {
        registration = parseRegistration(await next());
        s.write(acceptedPacket(1000)); // an older ingress: no `link` in its answer
        s.write(requestPacket(7, { target: { host: '127.0.0.1', port: echo.port, kind: 'ipv4' }, purpose: 'connect' }));
        const res = parseResponse(await next());
        s.removeAllListeners('data');
        s.on('data', (d: Buffer) => resolve({ status: res.ok ? 'ok' : res.code, echoed: d.toString() }));
        s.write('raw after the answer');
      })().catch(reject);
    });
    server = old;
    old.listen(0, '127.0.0.1', () => (exit = startReverseExit((old.address() as { port: number }).port, 'e1', '127.0.0.47', { mode: 'link', links: 1 })));
  });
  try {
    const r = await withTimeout(served, 10_000, 'the old ingress served');
    assert.deepEqual(registration, { exit: 'e1', token: TOKEN, link: true }, 'the exit asked for a link');
    assert.deepEqual(r, { status: 'ok', echoed: 'raw after the answer' });
  } finally {
    await exit?.stop(0);
    server?.close();
  }
});

test('a hostile exit on its link: a stream it opens is refused, garbage breaks only its own link', { timeout: 20_000 }, async () => {
  const ing = await Ingress.start(IngressConfigSchema.parse(await config([await reverseEntry('bad', '127.0.0.48', 'de')])), createLogger('silent'));
  const reg = ing.runtime.reverse!.registry;
  const good = startReverseExit(ing.runtime.reverse!.tunnelPort!, 'bad', '127.0.0.48', { mode: 'link', links: 1 });
  const raw = tlsConnect({ host: '127.0.0.1', port: ing.runtime.reverse!.tunnelPort!, ca: tunnelCert().pem });
  raw.on('error', () => undefined);
  const secure = new Promise((r) => raw.once('secureConnect', r));
  try {
    await withTimeout(good.ready, 5000, 'the real exit registered');
    await withTimeout(secure, 5000, 'TLS');
    const next = packetReader(raw);
    raw.write(registrationPacket({ exit: 'bad', token: TOKEN, link: true }));
    const accepted = await next();
    assert.equal(accepted.props.get('link'), '1');
    raw.removeAllListeners('data');
    let answer = Buffer.alloc(0);
    raw.on('data', (d: Buffer) => (answer = Buffer.concat([answer, d])));
    // A stream opened by the exit, towards the ingress's network: refused.
    raw.write(Buffer.concat([PREFACE, openFrame(1, { host: '127.0.0.1', port: echo.port, window: 65536 })]));
    await eventually('OPEN_OK with a refusal', () => answer.includes(Buffer.from('BAD_REQUEST')));
    assert.equal(reg.stats().exits.bad!.links, 2);
    // Garbage: this link breaks (GOAWAY, close); the real exit's link keeps serving.
    raw.write(Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 0, 0]));
    await withTimeout(closed(raw), 5000, 'the hostile link closed');
    await eventually('one link left', () => reg.stats().exits.bad!.links === 1);
    const port = ing.ports()[0]!;
    assert.equal(await echoVia(port, '127.0.0.48', 0), '127.0.0.48');
  } finally {
    raw.destroy();
    await good.stop(100);
    await ing.shutdown(0);
  }
});

test('a hostile exit that never answers an open: the customer gets TIMEOUT, the stream is reset at the exit and leaves the ingress', { timeout: 20_000 }, async () => {
  const cfg = await config([await reverseEntry('mute', '127.0.0.49', 'de')], { heartbeatMs: 60_000 });
  let metrics: Registry | undefined;
  const ing = await Ingress.start(IngressConfigSchema.parse({ ...cfg, limits: { ...cfg.limits, connectTimeoutMs: 300 } }), createLogger('silent'), { metrics: (r) => (metrics = r) });
  const reg = ing.runtime.reverse!.registry;
  const raw = tlsConnect({ host: '127.0.0.1', port: ing.runtime.reverse!.tunnelPort!, ca: tunnelCert().pem });
  raw.on('error', () => undefined);
  try {
    await withTimeout(new Promise((r) => raw.once('secureConnect', r)), 5000, 'TLS');
    const next = packetReader(raw);
    raw.write(registrationPacket({ exit: 'mute', token: TOKEN, link: true }));
    assert.equal((await next()).props.get('link'), '1');
    raw.removeAllListeners('data');
    let heard = Buffer.alloc(0);
    raw.on('data', (d: Buffer) => (heard = Buffer.concat([heard, d])));
    raw.write(PREFACE); // a link from here on, and then silence: no answer to any open
    // SOCKS5 says TIMEOUT as 'TTL expired'.
    await assert.rejects(tunnel(ing.ports()[0]!, '127.0.0.49'), /TTLExpired/);
    // Gone from the ingress at once, not when the link dies: a drained link must be able to close.
    await eventually('the unanswered stream left the ingress', () => reg.stats().exits.mute!.streams === 0, { timeoutMs: 2000 });
    await eventually('the exit was told to drop it (RST)', () => heard.includes(Buffer.from('CANCEL')), { timeoutMs: 2000 });
    const scraped = await metrics!.metrics();
    assert.match(scraped, /hopgate_reverse_links\{exit="mute",what="links"\} 1\n/);
    assert.match(scraped, /hopgate_reverse_links\{exit="mute",what="streams"\} 0\n/);
    assert.match(scraped, /hopgate_reverse_work_connections\{exit="mute",state="idle"\} 0\n/);
  } finally {
    raw.destroy();
    await ing.shutdown(0);
  }
});

test('a pinned link identity: the exit presenting it registers; the right token without it, or with another key, is refused', { timeout: 20_000 }, async () => {
  const mine = createLinkIdentity('reverse exit pin');
  const other = createLinkIdentity('a thief');
  const ing = await Ingress.start(IngressConfigSchema.parse(await config([await reverseEntry('pin', '127.0.0.49', 'de', { linkFingerprint: mine.fingerprint })])), createLogger('silent'));
  const tunnelPort = ing.runtime.reverse!.tunnelPort!;
  const opts = { mode: 'link' as const, links: 1, backoffMs: 5000, maxBackoffMs: 5000 };
  const exits = [
    startReverseExit(tunnelPort, 'pin', '127.0.0.49', { ...opts, identity: mine }),
    startReverseExit(tunnelPort, 'pin', '127.0.0.49', opts),
    startReverseExit(tunnelPort, 'pin', '127.0.0.49', { ...opts, identity: other }),
  ];
  const [good, bare, thief] = exits;
  try {
    await withTimeout(good!.ready, 5000, 'the pinned exit registered');
    assert.equal(await echoVia(ing.ports()[0]!, '127.0.0.49', 0), '127.0.0.49');
    await eventually('both impostors refused', () => bare!.lastRefusal !== undefined && thief!.lastRefusal !== undefined);
    assert.match(bare!.lastRefusal!, /AUTH_FAILED: exit 'pin': the peer presented no certificate/);
    assert.match(thief!.lastRefusal!, /AUTH_FAILED: exit 'pin': the peer's certificate .* is not pinned/);
    assert.equal(ing.runtime.reverse!.registry.stats().exits.pin!.links, 1);
  } finally {
    await Promise.all(exits.map((e) => e.stop(0)));
    await ing.shutdown(0);
  }
});

test('a link key rotation of a reverse exit: the next key registers beside the current one; once retired, the old key\'s link drains (its live tunnel finishes) and is refused', { timeout: 30_000 }, async () => {
  const old = createLinkIdentity('reverse exit old key');
  const next = createLinkIdentity('reverse exit next key');
  const entry = (pins: Record<string, unknown>) => reverseEntry('rot', '127.0.0.50', 'de', pins);
  const ing = await Ingress.start(IngressConfigSchema.parse(await config([await entry({ linkFingerprint: old.fingerprint })])), createLogger('silent'));
  const tunnelPort = ing.runtime.reverse!.tunnelPort!;
  const opts = { mode: 'link' as const, links: 1, backoffMs: 100, maxBackoffMs: 200 };
  const before = startReverseExit(tunnelPort, 'rot', '127.0.0.50', { ...opts, identity: old });
  let after: ReturnType<typeof startReverseExit> | undefined;
  const links = (): number => ing.runtime.reverse!.registry.stats().exits.rot?.links ?? 0;
  try {
    await withTimeout(before.ready, 5000, 'the exit on its current key registered');
    const live = await tunnel(ing.ports()[0]!, '127.0.0.50');
    assert.equal(await echoOn(live, 'current'), 'current');
    // Step 1: the next key pinned beside the current one; the exit on its new key registers too.
    ing.reload(IngressConfigSchema.parse(await config([await entry({ linkFingerprint: old.fingerprint, nextLinkFingerprint: next.fingerprint })])));
    after = startReverseExit(tunnelPort, 'rot', '127.0.0.50', { ...opts, identity: next });
    await withTimeout(after.ready, 5000, 'the exit on its next key registered');
    assert.equal(links(), 2, 'both keys take streams during the rollover');
    // Step 2: the old key retired: its link drains, the live tunnel on it finishes, new tunnels take the new key's link.
    ing.reload(IngressConfigSchema.parse(await config([await entry({ linkFingerprint: next.fingerprint })])));
    assert.equal(links(), 1, "the retired key's link takes no new streams");
    assert.equal(await echoOn(live, 'still here'), 'still here');
    assert.equal(await echoVia(ing.ports()[0]!, '127.0.0.50', 1), '127.0.0.50');
    live.destroy();
    await eventually('the old key refused when it dials again', () => /is not pinned/.test(before.lastRefusal ?? ''));
  } finally {
    await Promise.all([before.stop(0), after?.stop(0)]);
    await ing.shutdown(0);
  }
});

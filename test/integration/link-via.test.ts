/**
 * An exit whose link crosses hops (ingress → via… → exit, issue 19): the link's
 * TLS connection goes through the hops once, and every tunnel is a stream in it —
 * no hop handshake per tunnel. Real pieces: Debian's microsocks as the hop
 * (egressing from 127.0.0.7), a real hopgate exit that accepts links only from
 * 127.0.0.7 (so only the hop can carry them), curl through a real ingress.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { startWhoami } from '../../src/cli/demo-target.js';
import { curl } from '../helpers/curl.js';
import { eventually } from '../helpers/eventually.js';
import { accepts, freePort } from '../helpers/ports.js';
import { startTestIngress, USER } from '../helpers/ingress.js';
import { ingressIdentityDir, linkExitEntry, startLinkExit } from '../helpers/link-exits.js';
import { ExitLinks } from '../../src/ingress/upstream/link-pool.js';
import { ExitSchema } from '../../src/shared/schema/ingress-config.js';
import { LinkIdentitySource } from '../../src/link/identity.js';

const haveMicrosocks = spawnSync('which', ['microsocks']).status === 0;
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function startMicrosocks(port: number): Promise<ChildProcess> {
  const ms = spawn('microsocks', ['-i', '127.0.0.1', '-p', String(port), '-u', 'hop', '-P', 'hop-pass', '-b', '127.0.0.7'], { stdio: 'ignore' });
  cleanups.push(() => void ms.kill());
  await eventually('microsocks listening', () => accepts(port), { timeoutMs: 5000, everyMs: 50 });
  return ms;
}

/** A SOCKS5 hop that answers the greeting, then the CONNECT after `connectAnswerMs`, then swallows everything. */
async function hostileHop(connectAnswerMs: number): Promise<{ port: number; held: Socket[] }> {
  const held: Socket[] = [];
  const server = createServer((s) => {
    held.push(s);
    s.on('error', () => undefined);
    let stage = 0;
    s.on('data', () => {
      if (stage === 0) s.write(Buffer.from([5, 0]));
      else if (stage === 1) setTimeout(() => s.destroyed || s.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0])), connectAnswerMs);
      stage++;
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const s of held) s.destroy();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, held };
}

test('a link through a SOCKS5 hop: one hop connection carries every tunnel; the hop going away breaks the link, and it comes back with the hop', { skip: !haveMicrosocks && 'microsocks not installed', timeout: 90_000 }, async () => {
  const port = await freePort();
  const ms = await startMicrosocks(port);
  const id = ingressIdentityDir();
  // Reachable only from the hop's egress address: a link that works crossed the hop.
  const far = await startLinkExit('far', '127.0.0.5', [id.identity.fingerprint], { allowFrom: ['127.0.0.7/32'] });
  cleanups.push(() => far.stop());
  const hop = { kind: 'socks5' as const, host: '127.0.0.1', port, username: 'hop', password: 'hop-pass' };
  const ingress = await startTestIngress({
    links: { identityDir: id.dir, perExit: 1 },
    exits: [{ ...linkExitEntry(far, 'de'), via: [hop] }],
    limits: { exitProbeIntervalMs: 0 },
  });
  cleanups.push(() => ingress.stop());
  const whoami = await startWhoami('127.0.0.1', 0);
  cleanups.push(() => whoami.close());
  const url = `http://127.0.0.1:${(whoami.address() as AddressInfo).port}/`;
  const through = async (scheme: 'socks5h' | 'http') => curl(['-f', '-m', '10', '-x', `${scheme}://${USER.login}:${USER.password}@127.0.0.1:${ingress.port}`, url]);

  for (let i = 0; i < 6; i++) {
    const r = await through(i % 2 ? 'http' : 'socks5h');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).youCameFrom, '127.0.0.5', 'the target saw the exit');
  }
  assert.equal(far.links.counters.served, 6, 'every tunnel was a stream on the link');
  assert.equal(far.links.counters.links, 1, 'one link, dialled once through the hop');
  assert.equal(far.links.counters.refusedLinks, 0);

  // The hop dies: the link breaks with it; a tunnel now fails with the proxy's own error, not a hang.
  ms.kill();
  await eventually('the link to break', () => far.links.linkCount === 0, { timeoutMs: 20_000 });
  const down = await through('http');
  assert.notEqual(down.code, 0);
  assert.match(down.stderr, /\b502\b/, 'HTTP 502 from the ingress');
  // The hop is back: the link is dialled again through it (back-off), and tunnels flow again.
  await startMicrosocks(port);
  await eventually('a tunnel through the re-dialled link', async () => (await through('socks5h')).code === 0, { timeoutMs: 30_000, everyMs: 250 });
  assert.equal(far.links.counters.links, 2, 'a second link, again through the hop');
  assert.equal(far.links.counters.refusedLinks, 0);
});

test('the same exit without its hop: the link is refused by the exit (wrong source), the client hears 502', { timeout: 60_000 }, async () => {
  const id = ingressIdentityDir();
  const far = await startLinkExit('far2', '127.0.0.6', [id.identity.fingerprint], { allowFrom: ['127.0.0.7/32'] });
  cleanups.push(() => far.stop());
  const ingress = await startTestIngress({ links: { identityDir: id.dir, perExit: 1 }, exits: [linkExitEntry(far, 'de')], limits: { exitProbeIntervalMs: 0 } });
  cleanups.push(() => ingress.stop());
  const r = await curl(['-f', '-m', '10', '-x', `http://${USER.login}:${USER.password}@127.0.0.1:${ingress.port}`, 'http://127.0.0.1:9/']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /\b502\b/);
  await eventually('the exit refused the link', () => far.links.counters.refusedLinks >= 1, { timeoutMs: 10_000 });
  assert.equal(far.links.counters.served, 0);
});

test('a hostile hop that answers SOCKS5 and then stalls the link: the tunnel fails (REP 1) within the connect timeout and its grace, not a hang; the next one fails at once while the link backs off', { timeout: 60_000 }, async () => {
  // The ingress waits for each answer before the next message: the greeting (no auth), the
  // CONNECT to the exit's link port ("succeeded"), then the TLS hello, swallowed.
  const hop = await hostileHop(0);
  const id = ingressIdentityDir();
  const far = await startLinkExit('far3', '127.0.0.8', [id.identity.fingerprint]);
  cleanups.push(() => far.stop());
  const via = [{ kind: 'socks5' as const, host: '127.0.0.1', port: hop.port }];
  const ingress = await startTestIngress({ links: { identityDir: id.dir, perExit: 1 }, exits: [{ ...linkExitEntry(far, 'de'), via }], limits: { exitProbeIntervalMs: 0, connectTimeoutMs: 2000 } });
  cleanups.push(() => ingress.stop());
  const proxy = `socks5h://${USER.login}:${USER.password}@127.0.0.1:${ingress.port}`;
  const started = Date.now();
  const r = await curl(['-sS', '-m', '30', '-x', proxy, 'http://127.0.0.1:9/'], 40_000);
  const tookMs = Date.now() - started;
  assert.equal(r.code, 97, r.stderr);
  assert.match(r.stderr, /\(1\)/, 'SOCKS5 REP 1: the exit could not be reached');
  // 2 s connect timeout + 2 s grace for the route, generous for a loaded machine; far from curl's 30 s.
  assert.ok(tookMs < 20_000, `failed after ${tookMs} ms`);
  const again = await curl(['-sS', '-m', '30', '-x', proxy, 'http://127.0.0.1:9/'], 40_000);
  assert.equal(again.code, 97, again.stderr);
  assert.equal(hop.held.length, 1, 'the link backs off: no new hop connection per tunnel');
  await eventually('the ingress let go of the stalled hop connection', () => hop.held.every((s) => s.destroyed), { timeoutMs: 10_000 });
  assert.equal(far.links.counters.links, 0, 'no link reached the exit');
});

test('hops slower than the connect timeout: the link dial fails as a timeout of the route, within one budget (not a TLS handshake left 1 ms)', { timeout: 30_000 }, async () => {
  // A hop that answers the greeting at once and the CONNECT to the link port after 1.5 s, then swallows.
  const hop = await hostileHop(1500);
  const id = ingressIdentityDir();
  const exit = ExitSchema.parse({ id: 'slow', kind: 'hopgate', host: '127.0.0.9', port: 1, link: { port: 2, fingerprint: id.identity.fingerprint }, via: [{ kind: 'socks5', host: '127.0.0.1', port: hop.port }] });
  const pool = new ExitLinks({ ...exit, link: exit.link! }, { identity: new LinkIdentitySource(id.dir, 'test'), perExit: 1, heartbeatMs: 0 });
  cleanups.push(() => pool.destroy());
  const t0 = Date.now();
  await assert.rejects(pool.open({ host: '127.0.0.1', port: 9, kind: 'ipv4' }, 1000), (err: Error) => {
    assert.match(err.message, /link route to exit slow timed out/);
    assert.doesNotMatch(err.message, /no handshake/);
    return true;
  });
  assert.ok(Date.now() - t0 < 10_000);
});

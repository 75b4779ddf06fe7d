/**
 * Proof of isolation, in network namespaces this test builds and deletes:
 *
 *   ns "ingress side" (10.200.N.1)  ──veth──  ns "exit side" (10.200.N.2, internal 10.201.N.1)
 *   hopgate ingress, customers' curl          hopgate exit --connect-to, an internal web service
 *
 * An nftables rule in the exit side drops every NEW connection arriving from
 * the ingress side. The exit dials out (allowed: its replies are ESTABLISHED),
 * so customers still reach the internal service through it, and a published
 * site is served by host name; yet the ingress side cannot open a single
 * connection inward (checked). Needs root, `ip` and `nft`; skips otherwise.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/shared/auth/password-hash.js';
import { killHard, startProc, type Proc } from '../helpers/procs.js';

const have = (bin: string): boolean => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const whyNot =
  process.platform !== 'linux' ? 'needs Linux network namespaces'
  : process.getuid?.() !== 0 ? 'needs root (ip netns, veth, nftables)'
  : !have('ip') ? 'needs iproute2 (`ip`)'
  : !have('nft') ? 'needs nftables (`nft`): apt-get install nftables'
  : !have('curl') ? 'needs curl'
  : spawnSync('ip', ['netns', 'list']).status !== 0 ? 'cannot use `ip netns` here'
  : undefined;

const N = 100 + (process.pid % 150);
const tag = `hg${process.pid % 100000}`;
const NS_ING = `${tag}-ing`;
const NS_EXIT = `${tag}-exit`;
const IF_ING = `${tag}i`;
const IF_EXIT = `${tag}e`;
const ING_IP = `10.200.${N}.1`;
const EXIT_IP = `10.200.${N}.2`;
const INTERNAL_IP = `10.201.${N}.1`;
const MAIN = resolve(fileURLToPath(import.meta.url), '../../../src/cli/main.js');
const DEMO = resolve(fileURLToPath(import.meta.url), '../../../src/cli/demo-target.js');
const PASSWORD = 'netns-customer-pw';
const TOKEN = 'netns-exit-token';

const procs: Proc[] = [];
let dir = '';

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}
function inNs(ns: string, cmd: string, args: string[], input?: string): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], input);
}

/** The namespaces and files (the processes: after(), or startProc's own reaping on exit, which runs first). */
function cleanup(): void {
  for (const ns of [NS_ING, NS_EXIT]) spawnSync('ip', ['netns', 'del', ns]); // takes the veth pair with it
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** curl inside the ingress's namespace. */
function curlIn(args: string[], maxTime = 5): { code: number; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', NS_ING, 'curl', '-sS', '--max-time', String(maxTime), ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

before(async () => {
  if (whyNot) return;
  process.once('exit', cleanup); // even if the runner is killed between hooks
  dir = mkdtempSync(join(tmpdir(), 'hopgate-netns-'));
  // Two hosts joined by a veth pair; the exit side also has an "internal" network only it can reach.
  sh('ip', ['netns', 'add', NS_ING]);
  sh('ip', ['netns', 'add', NS_EXIT]);
  sh('ip', ['link', 'add', IF_ING, 'type', 'veth', 'peer', 'name', IF_EXIT]);
  sh('ip', ['link', 'set', IF_ING, 'netns', NS_ING]);
  sh('ip', ['link', 'set', IF_EXIT, 'netns', NS_EXIT]);
  sh('ip', ['-n', NS_ING, 'addr', 'add', `${ING_IP}/24`, 'dev', IF_ING]);
  sh('ip', ['-n', NS_EXIT, 'addr', 'add', `${EXIT_IP}/24`, 'dev', IF_EXIT]);
  sh('ip', ['-n', NS_EXIT, 'addr', 'add', `${INTERNAL_IP}/32`, 'dev', 'lo']);
  for (const [ns, dev] of [[NS_ING, IF_ING], [NS_EXIT, IF_EXIT], [NS_ING, 'lo'], [NS_EXIT, 'lo']] as const) sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  // The ingress side even has a route to the internal network: only the firewall stands in the way.
  sh('ip', ['-n', NS_ING, 'route', 'add', `10.201.${N}.0/24`, 'via', EXIT_IP]);
  // The firewall: every new connection arriving from the ingress's side is dropped (IPv4 and IPv6).
  inNs(NS_EXIT, 'nft', ['-f', '-'], `table inet hopgate_isolation {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    iifname "${IF_EXIT}" ct state new counter drop\n  }\n}\n`);

  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  sh('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=hopgate ingress', '-addext', `subjectAltName=IP:${ING_IP}`]);
  const cheap = { ln: 10, r: 8, p: 1 };
  writeFileSync(join(dir, 'ingress.yaml'), stringify({
    listen: { host: ING_IP, ports: [8000, 8000] },
    workers: 1,
    tls: { cert, key },
    targetPolicy: { allow: ['10.0.0.0/8'] },
    log: { level: 'warn', access: false },
    limits: { exitProbeIntervalMs: 500 },
    users: [{ login: 'alice', passwordHash: await hashPassword(PASSWORD, cheap) }],
    exits: [{ id: 'office-1', kind: 'reverse', tokenHash: await hashPassword(TOKEN, cheap), from: [EXIT_IP], egressIp: INTERNAL_IP, country: 'de' }],
    reverse: {
      listen: { host: ING_IP, port: 7443 },
      heartbeatMs: 1000,
      publishListen: { host: ING_IP, port: 8080 },
      publish: [{ host: 'wiki.internal', exit: 'office-1', target: `${INTERNAL_IP}:8080` }],
    },
  }), { mode: 0o600 });

  procs.push(await startProc('internal web service', [process.execPath, '--input-type=module', '-e',
    `const { startWhoami } = await import(${JSON.stringify(DEMO)}); await startWhoami('0.0.0.0', 8080); console.log('ready');`], { ns: NS_EXIT, ready: /ready/ }));
  procs.push(await startProc('hopgate ingress', [process.execPath, MAIN, 'ingress', '--config', join(dir, 'ingress.yaml')], { ns: NS_ING, ready: /"ready":true/ }));
  procs.push(await startProc('hopgate exit', [process.execPath, MAIN, 'exit', '--connect-to', `${ING_IP}:7443`, '--id', 'office-1', '--ca', cert,
    '--pool', '4', '--egress', INTERNAL_IP, '--allow-target', `10.201.${N}.0/24`, '--log-level', 'warn'], { ns: NS_EXIT, ready: /"ready":true/, env: { HOPGATE_EXIT_TOKEN: TOKEN } }));
});

after(async () => {
  if (whyNot) return;
  // Gone before their namespaces are deleted.
  await Promise.all(procs.splice(0).map((p) => killHard(p)));
  cleanup();
});

test('isolation: the ingress side cannot open any connection into the exit side', { skip: whyNot }, () => {
  for (const url of [`http://${INTERNAL_IP}:8080/`, `http://${EXIT_IP}:8080/`]) {
    const r = curlIn([url], 2);
    assert.notEqual(r.code, 0, `${url} must be unreachable from the ingress side: ${r.out}`);
    assert.equal(r.code, 28, `dropped (a timeout), not refused: ${r.out}`);
  }
  const counters = inNs(NS_EXIT, 'nft', ['list', 'ruleset']);
  assert.match(counters, /ct state new counter packets [1-9]/, 'the firewall dropped them');
});

test('customers reach the internal service through the reverse exit, in several proxy modes', { skip: whyNot }, () => {
  const target = `http://${INTERNAL_IP}:8080/`;
  for (const [name, args] of [
    ['http', ['-x', `http://alice:${PASSWORD}@${ING_IP}:8000`]],
    ['CONNECT', ['-p', '-x', `http://alice:${PASSWORD}@${ING_IP}:8000`]],
    ['socks5h', ['-x', `socks5h://alice:${PASSWORD}@${ING_IP}:8000`]],
    ['socks4a', ['-x', `socks4a://alice%3A${PASSWORD}@${ING_IP}:8000`]],
  ] as const) {
    const r = curlIn([...args, target]);
    assert.equal(r.code, 0, `${name}: ${r.out}`);
    assert.match(r.out, new RegExp(`"youCameFrom":"${INTERNAL_IP.replace(/\./g, '\\.')}"`), `${name}: the service sees the exit`);
  }
});

test('a published site is served by host name, with no inbound connection', { skip: whyNot }, () => {
  const r = curlIn(['-H', 'Host: wiki.internal', `http://${ING_IP}:8080/docs`]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /"path":"\/docs"/);
  const miss = curlIn(['-i', '-H', 'Host: other.internal', `http://${ING_IP}:8080/`]);
  assert.match(miss.out, /404 Not Found \(NO_EXIT_MATCH\)/);
});

test('the exit still refuses what its own rules forbid', { skip: whyNot }, () => {
  // 10.200.N.2 is outside --allow-target: the exit refuses, the customer hears 403.
  const r = curlIn(['-i', '-x', `http://alice:${PASSWORD}@${ING_IP}:8000`, `http://${EXIT_IP}:8080/`]);
  assert.match(r.out, /403 Forbidden \(TARGET_FORBIDDEN\)/);
});

if (whyNot) test(`reverse-exit isolation in network namespaces: skipped (${whyNot})`, { skip: whyNot }, () => undefined);

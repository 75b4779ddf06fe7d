/**
 * Routing through real clients: ports (sequential and place schemes), username
 * tags and their precedence, HTTP header choices, sticky sessions across two
 * ingress processes and across windows, failover behind a port when an exit is
 * killed, and the port table. Every check asserts the address the target saw.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { stringify } from 'yaml';
import { curl } from '../helpers/curl.js';
import { aliceHashed, startRangeIngress, USER } from '../helpers/ingress.js';
import { exitEntry, startTestExit, type TestExit } from '../helpers/exits.js';
import { startWhoami } from '../../src/cli/demo-target.js';
import { listen0 } from '../helpers/net.js';
import type { PortTable } from '../../src/shared/routing/port-table.js';
import { hashString, sessionWindowEnd } from '../../src/shared/exits/rendezvous.js';
import { eventually } from '../helpers/eventually.js';
import { startProc, stopGracefully, type Proc } from '../helpers/procs.js';

const PLACES = [
  ['us-1', '127.0.0.2', 'us'],
  ['us-2', '127.0.0.3', 'us'],
  ['de-1', '127.0.0.4', 'de'],
  ['de-2', '127.0.0.5', 'de'],
  ['gb-1', '127.0.0.6', 'gb'],
] as const;

let exits: TestExit[];
let ing: Awaited<ReturnType<typeof startRangeIngress>>;
const ADMIN_TOKEN = 'routing-admin-token-0123456789';
let whoami: Server;
let target: string;
const pw = encodeURIComponent(USER.password);

const entries = () => exits.map((e, i) => exitEntry(e, PLACES[i]![2]));

before(async () => {
  whoami = await startWhoami('127.0.0.1', 0);
  target = `http://127.0.0.1:${(whoami.address() as { port: number }).port}/`;
  exits = await Promise.all(PLACES.map(([id, ip]) => startTestExit(id, ip)));
  const hash = await aliceHashed();
  ing = await startRangeIngress(12, {
    exits: entries(),
    routing: { placeStride: 3 },
    limits: { exitProbeIntervalMs: 150 },
    metrics: { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN },
    users: [
      { login: USER.login, passwordHash: hash },
      { login: 'bob', passwordHash: hash, exits: ['gb-1', 'de-1'] },
      { login: 'carol', passwordHash: hash, portScheme: 'place', places: ['us', 'de', 'gb'] },
    ],
  });
});
after(async () => {
  await ing.stop();
  await Promise.all(exits.map((e) => e.node.shutdown(100)));
  whoami.close();
});

/** The address the target saw, or the proxy's error code. */
async function seen(proxy: string, extra: string[] = []): Promise<string> {
  const r = await curl(['-i', ...extra, '-x', proxy, target], 8000);
  const code = /X-Hopgate-Error: (\S+)/i.exec(r.stdout)?.[1];
  if (code) return code;
  const m = /"youCameFrom":"([^"]+)"/.exec(r.stdout);
  return m ? m[1]! : `curl exit ${r.code}: ${r.stderr.trim()}`;
}
const via = (scheme: string, user: string, port: number, password = pw) =>
  `${scheme}://${user}${scheme.startsWith('socks4') ? '%3A' : ':'}${password}@127.0.0.1:${port}`;

for (const scheme of ['http', 'socks5h', 'socks4a']) {
  test(`${scheme}: port base+i carries the i-th exit; the base port is random`, async () => {
    for (let i = 1; i <= 5; i++) assert.equal(await seen(via(scheme, USER.login, ing.base + i)), PLACES[i - 1]![1], `port base+${i}`);
    const random = new Set<string>();
    for (let k = 0; k < 12; k++) random.add(await seen(via(scheme, USER.login, ing.base)));
    assert.ok(random.size >= 2 && [...random].every((ip) => PLACES.some((p) => p[1] === ip)), `random spread: ${[...random].join(', ')}`);
  });
}

test('username tags: exitip > port/index > connection port > country; conflicts refused', async () => {
  assert.equal(await seen(via('http', `${USER.login}-exitip-127.0.0.5`, ing.base + 1)), '127.0.0.5');
  assert.equal(await seen(via('socks5h', `${USER.login}-port-${ing.base + 5}`, ing.base + 1)), '127.0.0.6');
  assert.equal(await seen(via('http', `user-${USER.login}-index-2`, ing.base + 4)), '127.0.0.3');
  for (let k = 0; k < 4; k++) assert.match(await seen(via('socks5h', `customer-${USER.login}-cc-de`, ing.base)), /^127\.0\.0\.[45]$/);
  // a country tag on a numbered port counts within that country's exits
  assert.equal(await seen(via('http', `${USER.login}-country-de`, ing.base + 1)), '127.0.0.4', 'the 1st DE exit');
  assert.equal(await seen(via('socks5h', `${USER.login}-cc-de`, ing.base + 2)), '127.0.0.5', 'the 2nd DE exit');
  const before = await routeDecisions();
  assert.equal(await seen(via('http', `${USER.login}-country-de`, ing.base + 3)), 'NO_EXIT_MATCH', 'two DE exits only');
  assert.equal(await seen(via('http', `${USER.login}-country-fr`, ing.base)), 'NO_EXIT_MATCH');
  assert.equal(await seen(via('http', USER.login, ing.base + 6)), 'NO_EXIT_MATCH', 'past the last exit');
  // Refused before any exit was chosen: counted as such, not as direct egress.
  const after = await eventually('three refusals counted', async () => {
    const d = await routeDecisions();
    return (d.get('refused') ?? 0) - (before.get('refused') ?? 0) === 3 && d;
  });
  assert.equal(after.get('direct') ?? 0, before.get('direct') ?? 0);
});

/** hopgate_ingress_route_decisions_total by reason, from the admin /metrics. */
async function routeDecisions(): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${ing.ingress.adminPort}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  return new Map([...text.matchAll(/^hopgate_ingress_route_decisions_total\{reason="([^"]+)"\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

test('exitnode-random, cc-UK, alternatives with "," and ";", quality-N; the admin /v1/exits shows the scores', async () => {
  // exitnode-random: random whatever the port; cc-UK is GB
  const any = new Set<string>();
  for (let k = 0; k < 12; k++) any.add(await seen(via('socks5h', `${USER.login}-exitnode-random`, ing.base + 1)));
  assert.ok(any.size >= 2, `random on a numbered port: ${[...any].join(', ')}`);
  for (const scheme of ['http', 'socks5h', 'socks4a']) assert.equal(await seen(via(scheme, `${USER.login}-cc-UK-exitnode-random`, ing.base + 3)), '127.0.0.6', scheme);
  const either = new Set<string>();
  for (let k = 0; k < 16; k++) either.add(await seen(via(k % 2 ? 'http' : 'socks5h', `${USER.login}-country-${k % 2 ? 'gb,de' : 'gb;DE'}`, ing.base)));
  assert.deepEqual([...either].sort(), ['127.0.0.4', '127.0.0.5', '127.0.0.6']);
  assert.equal(await seen(via('http', `${USER.login}-country-us,de`, ing.base + 3)), '127.0.0.4', 'port 3 counts within US or DE: us-1, us-2, de-1');
  assert.equal(await seen(via('http', `${USER.login}-session-a,b`, ing.base)), 'USERNAME_INVALID');
  // quality: the prober (150 ms) and the traffic above have measured every exit by now
  const admin = `http://127.0.0.1:${ing.ingress.adminPort}`;
  const report = (await (await fetch(`${admin}/v1/exits`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { exits: Array<{ id: string; up: boolean; quality: { score: number | null; outcomes: number; latencyMs: number | null } }> };
  assert.equal(report.exits.length, 5);
  for (const e of report.exits) {
    assert.ok(e.quality.score !== null && e.quality.score >= 90 && e.quality.outcomes > 0 && e.quality.latencyMs !== null, `${e.id}: ${JSON.stringify(e.quality)}`);
  }
  assert.equal(await seen(via('http', `${USER.login}-cc-gb-quality-90`, ing.base)), '127.0.0.6');
  const metrics = await (await fetch(`${admin}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  assert.match(metrics, /hopgate_ingress_exit_quality_score\{exit="gb-1"\} (9\d|100)/);
});

test('a customer sees only their own exits, in their own order', async () => {
  assert.equal(await seen(via('http', 'bob', ing.base + 1)), '127.0.0.6');
  assert.equal(await seen(via('socks5h', 'bob', ing.base + 2)), '127.0.0.4');
  for (let k = 0; k < 6; k++) assert.match(await seen(via('http', 'bob', ing.base)), /^127\.0\.0\.[46]$/);
  assert.equal(await seen(via('http', 'bob-exitip-127.0.0.2', ing.base)), 'NO_EXIT_MATCH', "alice's exit is not bob's");
  assert.equal(await seen(via('http', 'bob-country-us', ing.base)), 'NO_EXIT_MATCH');
});

test('place scheme: base + k·stride is the k-th country, + i its i-th exit', async () => {
  // stride 3: slot 1 (us) = base+3.., slot 2 (de) = base+6.., slot 3 (gb) = base+9..
  assert.equal(await seen(via('http', 'carol', ing.base + 4)), '127.0.0.2');
  assert.equal(await seen(via('http', 'carol', ing.base + 5)), '127.0.0.3');
  assert.equal(await seen(via('socks5h', 'carol', ing.base + 8)), '127.0.0.5');
  for (let k = 0; k < 4; k++) assert.match(await seen(via('http', 'carol', ing.base + 6)), /^127\.0\.0\.[45]$/);
  assert.equal(await seen(via('http', 'carol', ing.base + 10)), '127.0.0.6');
  assert.equal(await seen(via('http', 'carol', ing.base + 11)), 'NO_EXIT_MATCH', 'gb has one exit');
});

test('HTTP clients may choose with X-Hopgate-* headers; the headers never reach the target', async () => {
  assert.equal(await seen(via('http', USER.login, ing.base), ['-H', 'X-Hopgate-Country: gb']), '127.0.0.6');
  assert.equal(await seen(via('http', USER.login, ing.base), ['-H', 'X-Hopgate-Exitip: 127.0.0.4']), '127.0.0.4');
  // CONNECT carries them too (curl sends -H to the proxy with --proxy-header)
  assert.equal(await seen(via('http', USER.login, ing.base), ['-p', '--proxy-header', 'X-Hopgate-Country: gb']), '127.0.0.6');
  assert.equal(await seen(via('http', `${USER.login}-country-us`, ing.base), ['-H', 'X-Hopgate-Country: de']), 'BAD_REQUEST');
  assert.equal(await seen(via('http', USER.login, ing.base), ['-H', 'X-Hopgate-Colour: red']), 'BAD_REQUEST');
  // the origin must not see them: it echoes nothing of headers, so ask a raw listener
  const { createServer } = await import('node:net');
  let head = '';
  const raw = createServer((s) => s.on('data', (d) => { head += d.toString('latin1'); s.end('HTTP/1.1 204 No Content\r\n\r\n'); }));
  const port = await listen0(raw);
  await curl(['-x', via('http', USER.login, ing.base), '-H', 'X-Hopgate-Country: gb', `http://127.0.0.1:${port}/x`]);
  raw.close();
  assert.match(head, /^GET \/x HTTP\/1\.1/);
  assert.doesNotMatch(head, /x-hopgate/i);
});

test('sticky session: same exit for every connection and protocol, new exit in a later window', async () => {
  const rt = ing.ingress.runtime;
  const start = Date.now();
  let now = start;
  rt.now = () => now;
  try {
    const user = `${USER.login}-session-s1-sesstime-1`;
    const first = await seen(via('http', user, ing.base));
    for (const scheme of ['socks5h', 'socks4a', 'http']) assert.equal(await seen(via(scheme, user, ing.base)), first, scheme);
    // step through windows of one minute: the exit must change within a few (5 exits)
    const end = sessionWindowEnd(hashString(`${USER.login}\0s1`), 1, start);
    const later: string[] = [];
    for (let k = 0; k < 8; k++) {
      now = end + k * 60_000 + 1;
      later.push(await seen(via('http', user, ing.base)));
    }
    assert.ok(later.some((ip) => ip !== first), `exit changed after expiry: ${first} then ${later.join(', ')}`);
  } finally {
    rt.now = Date.now;
  }
});

test('failover behind a port: killing the exit serves a replacement from its place; it returns on recovery', async () => {
  const us1 = exits[0]!;
  const admin = `http://127.0.0.1:${ing.ingress.adminPort}`;
  assert.equal(await seen(via('http', USER.login, ing.base + 1)), '127.0.0.2');
  await us1.node.shutdown(100);
  // the first connection after the kill fails over before any byte reaches the client
  assert.equal(await seen(via('http', USER.login, ing.base + 1)), '127.0.0.3', 'us-1 → us-2 (same country)');
  assert.equal(await seen(via('socks5h', USER.login, ing.base + 1)), '127.0.0.3');
  const table = (await (await fetch(`${admin}/v1/ports/${USER.login}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as PortTable;
  const row = table.rows.find((r) => r.port === ing.base + 1)!;
  assert.deepEqual([row.meaning, row.state, row.servedBy?.id], ['us-1', 'replaced', 'us-2']);
  // random choices avoid the dead exit
  for (let k = 0; k < 10; k++) assert.notEqual(await seen(via('socks5h', `${USER.login}-country-us`, ing.base)), '127.0.0.2');
  exits[0] = await startTestExit('us-1', '127.0.0.2', ['127.0.0.1/32'], us1.port);
  await eventually('back to us-1 once the prober sees it up', async () => (await seen(via('http', USER.login, ing.base + 1))) === '127.0.0.2', { timeoutMs: 5000, everyMs: 200 });
});

test('sticky across two ingress processes: the same session picks the same exit on both, with no shared state', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-sticky-'));
  const hash = await aliceHashed();
  const procs: Proc[] = [];
  const ports: number[] = [];
  try {
    for (const name of ['a', 'b']) {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, stringify({
        listen: { host: '127.0.0.1', ports: [0, 0] },
        workers: 1,
        targetPolicy: { allow: ['127.0.0.0/8'] },
        log: { level: 'info', access: false },
        users: [{ login: USER.login, passwordHash: hash }],
        exits: entries(),
      }));
      // The ingress CLI logs its ports when ready (pino JSON on stdout).
      const listening = /"ports":\[(\d+)/;
      const p = await startProc(`ingress ${name}`, [process.execPath, 'dist/src/cli/main.js', 'ingress', '--config', file], { ready: listening });
      procs.push(p);
      ports.push(Number(listening.exec(p.readyLine)![1]));
    }
    // Choose session ids whose window does not end during the test, then compare both ingresses.
    let agree = 0;
    const picked = new Set<string>();
    for (let k = 0; agree < 6 && k < 40; k++) {
      const id = `t${k}`;
      if (sessionWindowEnd(hashString(`${USER.login}\0${id}`), 60, Date.now()) - Date.now() < 60_000) continue;
      const user = `${USER.login}-session-${id}-sesstime-60`;
      const a = await seen(via('socks5h', user, ports[0]!));
      const b = await seen(via('http', user, ports[1]!));
      assert.equal(a, b, `session ${id}: ingress a chose ${a}, ingress b ${b}`);
      picked.add(a);
      agree++;
    }
    assert.equal(agree, 6);
    assert.ok(picked.size >= 2, `sessions spread over exits (${[...picked].join(', ')})`);
  } finally {
    await Promise.all(procs.map((p) => stopGracefully(p)));
  }
});

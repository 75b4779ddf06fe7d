/**
 * Source legitimacy end to end on loopback (issue #7, item 7; docs/LEGITIMACY.md):
 * one control plane (SQLite) feeds three ingresses over the config stream.
 * Clients bind distinct 127.a.b.c source addresses, so each 127.a.b.0/24 is a
 * prefix. History is taught with authenticated connections (127.10.1.0/24 →
 * ingress 1, 127.20.1.0/24 → ingress 2, 127.30.1.0/24 → ingress 3); the
 * control plane learns, classifies and publishes rule sets, which every
 * ingress ACKs. Then every ingress is flooded with unauthenticated connection
 * attempts from random 127.x.y.z sources (bounded: 250 per ingress in 2 s):
 * each enters attack mode, and limits the sources classified unlikely or
 * unknown there, while the taught clients keep authenticating and relaying on
 * their own ingress and a session opened before the flood is never cut.
 * Finally an operator announces a route withdrawal: every ingress holds a
 * suspended rule set within 5 s and limits nothing any more.
 *
 * Intervals are seconds, not minutes: the control plane's analysis options
 * (the ingresses report at its interval, told in `hello`) and the ingresses'
 * `legitimacy` settings (attack-mode detector, buckets) are shortened.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { sqliteDb, tempDir, type TestDb } from '../helpers/control-fixtures.js';
import { TEST_SETTINGS, makeNode, startLinkedIngress, startTestControl, type Api } from '../helpers/control-link-fixtures.js';
import { createSocket } from 'node:dgram';
import { startEchoServer, startUdpEcho } from '../helpers/net.js';
import { readExactly, socks5ConnectRaw } from '../helpers/socks5-raw.js';
import type { ControlledIngress } from '../../src/processes/controlled-ingress.js';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { eventually } from '../helpers/eventually.js';

const IDS = ['edge-1', 'edge-2', 'edge-3'] as const;
/** The /16 each ingress's taught clients come from (their /24 is 127.X.1.0/24). */
const HOME = [10, 20, 30] as const;

type Metrics = Map<string, number>;

async function scrape(ing: ControlledIngress): Promise<Metrics> {
  const text = await (await fetch(`${ing.adminUrl}/metrics`)).text();
  const m: Metrics = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith('hopgate_legitimacy_')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

const decision = (m: Metrics, cls: string, outcome: 'allowed' | 'limited', kind = 'conn'): number =>
  m.get(`hopgate_legitimacy_decisions_total{kind="${kind}",class="${cls}",outcome="${outcome}"}`) ?? 0;

/** SOCKS5 with login and password from `from`, CONNECT to the echo server (or UDP ASSOCIATE); resolves to the open tunnel and the reply's port. */
const socksFrom = (from: string, proxyPort: number, login: string, password: string, echoPort: number, cmd = 1): Promise<Socket & { bindPort: number }> =>
  socks5ConnectRaw(proxyPort, login, password, '127.0.0.1', echoPort, { localAddress: from, cmd, timeoutMs: 3000 });

/** A UDP association from `from`: `n` datagrams to the UDP echo server through it; resolves to the replies. */
async function udpThrough(from: string, proxyPort: number, login: string, password: string, echoPort: number, n: number): Promise<string[]> {
  const control = await socksFrom(from, proxyPort, login, password, 0, 3);
  const u = createSocket('udp4');
  try {
    await new Promise<void>((r) => u.bind(0, from, () => r()));
    const got: string[] = [];
    const all = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`UDP: ${got.length} of ${n} replies`)), 3000);
      u.on('message', (m) => {
        got.push(m.subarray(10).toString());
        if (got.length === n) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    for (let i = 0; i < n; i++) {
      const head = Buffer.from([0, 0, 0, 1, 127, 0, 0, 1, 0, 0]);
      head.writeUInt16BE(echoPort, 8);
      u.send(Buffer.concat([head, Buffer.from(`dgram ${i}`)]), control.bindPort, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 20));
    }
    await all;
    return got.sort();
  } finally {
    u.close();
    control.destroy();
  }
}

async function echo(s: Socket, text: string): Promise<string> {
  s.write(text);
  return (await readExactly(s, Buffer.byteLength(text))).toString();
}

/** One authenticated session from `from`: connect, relay a line, close. */
async function session(from: string, proxyPort: number, login: string, password: string, echoPort: number): Promise<void> {
  const s = await socksFrom(from, proxyPort, login, password, echoPort);
  try {
    assert.equal(await echo(s, `hello from ${from}\n`), `hello from ${from}\n`);
  } finally {
    s.destroy();
  }
}

/** An unauthenticated attempt: connect from `from`, offer no authentication, go. Resolves when the socket is closed. */
function attempt(from: string, proxyPort: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ port: proxyPort, host: '127.0.0.1', localAddress: from });
    const t = setTimeout(() => s.destroy(), 1500);
    s.on('error', () => undefined);
    s.once('connect', () => s.write(Buffer.from([5, 1, 0])));
    s.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

const rnd = (n: number): number => Math.floor(Math.random() * n);

/**
 * Flood source for ingress `k`: a third from random /16s nobody has seen (unknown), a third
 * from the other ingresses' /16s (unlikely or unlikely via parent), a third from its own
 * /16 (expected there: spoofing inside the catchment is the method's ceiling).
 */
function floodSource(k: number, i: number): string {
  const oct = () => 1 + rnd(254);
  switch (i % 3) {
    case 0: {
      let a: number;
      do a = 40 + rnd(200);
      while (a === 127);
      return `127.${a}.${oct()}.${oct()}`;
    }
    case 1:
      return `127.${HOME[(k + 1 + rnd(2)) % 3]}.${oct()}.${oct()}`;
    default:
      return `127.${HOME[k]}.${2 + rnd(250)}.${oct()}`;
  }
}

/** `perIngress` attempts at every ingress, spread over `ms`; resolves when all are closed. */
async function flood(ings: ControlledIngress[], perIngress: number, ms: number): Promise<void> {
  const batches = Math.max(1, Math.floor(ms / 50));
  const per = Math.ceil(perIngress / batches);
  const all: Promise<void>[] = [];
  for (let b = 0; b < batches; b++) {
    for (let k = 0; k < ings.length; k++) {
      for (let j = 0; j < per && b * per + j < perIngress; j++) all.push(attempt(floodSource(k, b * per + j), ings[k]!.ports[0]));
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await Promise.all(all);
}

describe('source legitimacy across three ingresses on loopback', () => {
  let tdb: TestDb;
  let cpState: ReturnType<typeof tempDir>;
  const ingStates: Array<ReturnType<typeof tempDir>> = [];
  let cp: ControlPlane & { api: Api };
  let call: Api;
  let echoServer: Awaited<ReturnType<typeof startEchoServer>>;
  let udpEcho: Awaited<ReturnType<typeof startUdpEcho>>;
  const ings: ControlledIngress[] = [];
  let password = '';
  const login = 'roamer';
  const long: Socket[] = [];

  before(async () => {
    tdb = await sqliteDb();
    cpState = tempDir();
    cp = await startTestControl(tdb.spec, cpState.path, {
      legitimacy: {
        group: 'loopback',
        downGraceMs: 1000,
        analysis: {
          intervalMs: 500,
          silentAfterMs: 15_000,
          warmupMs: 3000,
          halfLifeMs: 3600_000,
          publishGapMs: 500,
          ruleTtlMs: 30_000,
          suspend: { minMs: 60_000, calmReports: 1 },
        },
      },
    });
    call = cp.api;
    echoServer = await startEchoServer();
    udpEcho = await startUdpEcho();
    const settings = {
      ...TEST_SETTINGS,
      legitimacy: {
        detector: { warmupMs: 1500, enterMinConn: 40, enterMinAuthFail: 40, calmMs: 1500 },
        unlikely: { minConn: 4 },
        unknown: { minConn: 4 },
      },
    };
    assert.equal((await call('PATCH', '/v1/settings', settings)).status, 200);
    const r = await call('POST', '/v1/customers', { login });
    assert.equal(r.status, 201);
    password = r.body.password;
    for (const id of IDS) {
      const token = await makeNode(call, id);
      const st = tempDir('hopgate-ingress-state-');
      ingStates.push(st);
      ings.push(await startLinkedIngress(cp.url, token, st.path));
    }
  });

  after(async () => {
    for (const s of long) s.destroy();
    for (const ing of ings) await ing.stop();
    await cp?.close();
    await echoServer?.close();
    udpEcho?.close();
    await tdb?.cleanup();
    cpState?.remove();
    for (const st of ingStates) st.remove();
  });

  it('learns from authenticated sessions, limits implausible sources in attack mode, keeps taught clients working, and suspends on an operator event within 5 s', async (t) => {
    const t0 = Date.now();
    // ---- teach: 3 rounds of 12 authenticated sessions per prefix, each on its home ingress
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        ings.flatMap((ing, k) => Array.from({ length: 12 }, (_, c) => session(`127.${HOME[k]}.1.${1 + c}`, ing.ports[0], login, password, echoServer.port))),
      );
      await new Promise((r) => setTimeout(r, 400));
    }
    // ---- the control plane leaves its warm-up and every ingress holds an active rule set
    await eventually('rules active at every ingress', async () => {
        const ms = await Promise.all(ings.map(scrape));
        return ms.every((m) => m.get('hopgate_legitimacy_rules_active') === 1 && (m.get('hopgate_legitimacy_rules_entries') ?? 0) > 0);
      }, { timeoutMs: 12_000, everyMs: 100 });
    const learnedMs = Date.now() - t0;
    const view = (await call('GET', '/v1/legitimacy')).body;
    assert.equal(view.mode, 'active');
    assert.deepEqual(view.ingresses.map((i: { id: string }) => i.id).sort(), [...IDS]);
    for (const i of view.ingresses) {
      assert.equal(i.down, false);
      assert.ok(i.ackedRevision > 0 && i.ackedRevision === i.revision, `${i.id} acked ${i.ackedRevision} of ${i.revision}`);
    }
    // what each ingress was told: its own prefix expected, the others' unlikely
    for (let k = 0; k < 3; k++) {
      const en = ings[k]!.ingress!.runtime.legitimacy!.enforcer;
      for (let j = 0; j < 3; j++) {
        const cls = en.classify(`127.${HOME[j]}.1.9`);
        if (j === k) assert.equal(cls, 'expected', `127.${HOME[j]}.1.9 at ${IDS[k]}`);
        else assert.match(cls, /^unlikely/, `127.${HOME[j]}.1.9 at ${IDS[k]}`);
      }
      assert.equal(en.classify('127.200.7.7'), 'unknown');
      assert.equal(en.attackMode, false, `${IDS[k]} not in attack mode before the flood`);
    }

    // a session opened before the flood, on each ingress, from its taught prefix
    for (let k = 0; k < 3; k++) long.push(await socksFrom(`127.${HOME[k]}.1.100`, ings[k]!.ports[0], login, password, echoServer.port));
    const before = await Promise.all(ings.map(scrape));

    // ---- flood every ingress; meanwhile the taught clients keep connecting on their own ingress
    const floodStart = Date.now();
    // 200 attempts/s per ingress nominal, 5x the entry bound (40/s): a CI-like run at load 9 stretched the
    // nominal 125/s (250 over 2 s) below it and edge-1 never entered attack mode.
    const floodDone = flood(ings, 400, 2000);
    const taught: Array<Promise<void>> = [];
    // One exchange at a time on each long connection: two concurrent readers of one socket (a late answer of wave
    // 1 while wave 2 already reads) took each other's bytes ('still here 1' where 2 was expected) on a loaded machine.
    const onLong: Array<Promise<void>> = long.map(() => Promise.resolve());
    for (let wave = 0; wave < 4; wave++) {
      await new Promise((r) => setTimeout(r, 450));
      for (let k = 0; k < 3; k++) {
        taught.push(session(`127.${HOME[k]}.1.${20 + wave * 3 + k}`, ings[k]!.ports[0], login, password, echoServer.port));
        onLong[k] = onLong[k]!.then(async () => assert.equal(await echo(long[k]!, `still here ${wave}\n`), `still here ${wave}\n`));
        taught.push(onLong[k]!);
      }
      // a UDP association of a taught client: its datagrams are established once its port is known
      if (wave === 1) taught.push(udpThrough('127.10.1.60', ings[0]!.ports[0], login, password, udpEcho.port, 3).then((got) => assert.deepEqual(got, ['dgram 0', 'dgram 1', 'dgram 2'])));
    }
    const results = await Promise.allSettled(taught);
    await floodDone;
    const floodMs = Date.now() - floodStart;
    const failures = results.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
    assert.deepEqual(failures, [], 'taught clients during the flood');
    const during = await Promise.all(ings.map(scrape));

    const established = decision(during[0]!, 'established', 'allowed', 'udp') - decision(before[0]!, 'established', 'allowed', 'udp');
    assert.ok(established >= 2, `edge-1: datagrams of the association passed as established (${established})`);
    assert.equal(decision(during[0]!, 'established', 'limited', 'udp'), 0);
    const figures: string[] = [];
    for (let k = 0; k < 3; k++) {
      const a = before[k]!;
      const b = during[k]!;
      const d = (cls: string, o: 'allowed' | 'limited'): number => decision(b, cls, o) - decision(a, cls, o);
      assert.ok((b.get('hopgate_legitimacy_attack_entries_total') ?? 0) >= 1, `${IDS[k]} entered attack mode`);
      const unknown = { allowed: d('unknown', 'allowed'), limited: d('unknown', 'limited') };
      const unlikely = { allowed: d('unlikely', 'allowed') + d('unlikely-via-parent', 'allowed'), limited: d('unlikely', 'limited') + d('unlikely-via-parent', 'limited') };
      const expected = { allowed: d('expected', 'allowed'), limited: d('expected', 'limited') };
      const normal = d('normal', 'allowed');
      figures.push(
        `${IDS[k]}: before attack mode ${normal} passed; unknown ${unknown.limited}/${unknown.limited + unknown.allowed} limited, ` +
          `unlikely ${unlikely.limited}/${unlikely.limited + unlikely.allowed} limited, expected ${expected.limited}/${expected.limited + expected.allowed} limited`,
      );
      assert.equal(expected.limited, 0, `${IDS[k]}: expected sources are never limited`);
      assert.ok(expected.allowed >= 20, `${IDS[k]}: expected sources passed (${expected.allowed})`);
      for (const [name, c] of [['unknown', unknown], ['unlikely', unlikely]] as const) {
        const n = c.allowed + c.limited;
        assert.ok(n >= 30, `${IDS[k]}: ${name} flood sources judged in attack mode (${n})`);
        assert.ok(c.limited / n >= 0.6, `${IDS[k]}: ${name} flood sources limited ${c.limited}/${n}`);
      }
    }
    t.diagnostic(`learned and active after ${learnedMs} ms; flood 3 × 400 attempts in ${floodMs} ms; ${results.length} taught-client checks during it, 0 failures`);
    for (const f of figures) t.diagnostic(f);

    // ---- an operator announces a route withdrawal: every ingress suspends within 5 s
    const ev0 = Date.now();
    const ev = await call('POST', '/v1/legitimacy/events', { kind: 'route-withdrawn', reason: 'test: 203.0.113.0/24 withdrawn at edge-2' });
    assert.equal(ev.status, 200);
    assert.equal(ev.body.mode, 'suspended');
    const suspendedAt: number[] = [];
    await Promise.all(
      ings.map(async (ing, k) => {
        await eventually(`${IDS[k]} suspended`, async () => {
            const m = await scrape(ing);
            return m.get('hopgate_legitimacy_rules_suspended') === 1 && m.get('hopgate_legitimacy_rules_active') === 0;
          }, { timeoutMs: 5000, everyMs: 20 });
        suspendedAt[k] = Date.now() - ev0;
      }),
    );
    const worst = Math.max(...suspendedAt);
    assert.ok(worst <= 5000, `suspended everywhere within ${worst} ms`);
    t.diagnostic(`operator event → suspended at ${IDS.map((id, k) => `${id} ${suspendedAt[k]} ms`).join(', ')}`);
    const st = (await call('GET', '/v1/legitimacy')).body;
    assert.equal(st.mode, 'suspended');
    assert.match(st.reason, /route-withdrawn/);
    await eventually('the ingresses report their suspended state', async () => {
      const v = (await call('GET', '/v1/legitimacy')).body;
      return v.ingresses.every((i: { suspended: boolean | null }) => i.suspended === true);
    });

    // ---- and they stop limiting: a second (short) flood is not limited anywhere
    const beforeSecond = await Promise.all(ings.map(scrape));
    await flood(ings, 90, 600);
    const afterSecond = await Promise.all(ings.map(scrape));
    for (let k = 0; k < 3; k++) {
      let limited = 0;
      let allowed = 0;
      for (const cls of ['expected', 'unlikely', 'unlikely-via-parent', 'unknown', 'inactive', 'normal']) {
        limited += decision(afterSecond[k]!, cls, 'limited') - decision(beforeSecond[k]!, cls, 'limited');
        allowed += decision(afterSecond[k]!, cls, 'allowed') - decision(beforeSecond[k]!, cls, 'allowed');
      }
      assert.equal(limited, 0, `${IDS[k]}: nothing limited while suspended`);
      assert.ok(allowed >= 90, `${IDS[k]}: ${allowed} admitted while suspended`);
    }
    // the sessions opened before the flood were never cut
    for (const s of long) assert.equal(await echo(s, 'bye\n'), 'bye\n');
    t.diagnostic(`whole test ${Date.now() - t0} ms`);
  });
});

describe('source legitimacy with worker processes', () => {
  let tdb: TestDb;
  let cpState: ReturnType<typeof tempDir>;
  let ingState: ReturnType<typeof tempDir>;
  let cp: ControlPlane & { api: Api };
  let call: Api;
  let echoServer: Awaited<ReturnType<typeof startEchoServer>>;
  let ing: ControlledIngress | undefined;

  before(async () => {
    tdb = await sqliteDb();
    cpState = tempDir();
    ingState = tempDir('hopgate-ingress-state-');
    cp = await startTestControl(tdb.spec, cpState.path, {
      legitimacy: { downGraceMs: 500, analysis: { intervalMs: 300, warmupMs: 1500, publishGapMs: 300, silentAfterMs: 20_000, suspend: { minMs: 60_000, calmReports: 1 } } },
    });
    call = cp.api;
    echoServer = await startEchoServer();
    assert.equal((await call('PATCH', '/v1/settings', TEST_SETTINGS)).status, 200);
  });

  after(async () => {
    await ing?.stop();
    await cp?.close();
    await echoServer?.close();
    await tdb?.cleanup();
    cpState?.remove();
    ingState?.remove();
  });

  it('aggregates the workers\' evidence in the primary, ACKs rule sets once and relays them to every worker; its stream dropping suspends the group', async () => {
    const r = await call('POST', '/v1/customers', { login: 'multi' });
    assert.equal(r.status, 201);
    const token = await makeNode(call, 'multi-1');
    ing = await startLinkedIngress(cp.url, token, ingState.path, { workers: 2 });
    assert.equal(ing.workers, 2);
    await Promise.all(Array.from({ length: 16 }, (_, c) => session(`127.40.1.${1 + c}`, ing!.ports[0], 'multi', r.body.password, echoServer.port)));
    const v = await eventually('rules acknowledged by the primary', async () => {
        const x = (await call('GET', '/v1/legitimacy')).body;
        const i = x.ingresses.find((e: { id: string }) => e.id === 'multi-1');
        return x.mode === 'active' && i && i.ackedRevision > 0 && i.ackedRevision === i.revision && i.rulesActive ? x : undefined;
      }, { timeoutMs: 10_000, everyMs: 100 });
    assert.ok(v.prefixes >= 3, `prefixes learned from the workers' evidence: ${v.prefixes}`); // the /24 and its parents
    assert.equal(v.stats.nacks, 0);
    // Every scrape lands on one worker or the other: each holds the rules.
    await eventually('every worker holds the rules (6 scrapes in a row)', async () => {
      for (let i = 0; i < 6; i++) if ((await scrape(ing!)).get('hopgate_legitimacy_rules_active') !== 1) return false;
      return true;
    }, { timeoutMs: 3000, everyMs: 50 });
    const link = ing.legitimacy!;
    assert.ok(link.stats.posts > 0 && link.stats.postFailures === 0, JSON.stringify(link.stats));
    assert.ok(link.collector.unacked().length <= 1, 'reports are acknowledged'); // one may be in flight
    // The ingress goes away: its config stream closes, and after the grace period the group's rules are suspended.
    const gone = Date.now();
    await ing.stop();
    ing = undefined;
    const after = await eventually('suspension on ingress-down', async () => {
      const x = (await call('GET', '/v1/legitimacy')).body;
      return x.mode === 'suspended' ? x : undefined;
    }, { timeoutMs: 5000, everyMs: 50 });
    assert.match(after.reason, /^ingress-down multi-1: config stream closed/);
    assert.ok(Date.now() - gone < 5000);
  });
});

/**
 * The control plane at 10,000 customers: config apply latency (API change →
 * in force at a stream-fed ingress), snapshot size, and the cost of one
 * statistics pull per ingress. In one process, on loopback.
 *
 *   npm run build && node dist/bench/control.js [--customers 10000] [--changes 50] [--runs 3]
 *                                                [--db sqlite:FILE | postgres://…?schema=S]
 *
 * Customers are inserted in bulk straight into the store's tables (one
 * revision), with two of the five exits each and one shared password hash.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startControlPlane, type ControlPlane } from '../src/control/control-plane.js';
import { startControlledIngress, type ControlledIngress } from '../src/processes/controlled-ingress.js';
import { hashPassword } from '../src/shared/auth/password-hash.js';
import { createLogger } from '../src/shared/log.js';
import { minuteOf } from '../src/shared/control-protocol.js';
import type { MeterRow } from '../src/ingress/control-link/stats.js';

const { values: opt } = parseArgs({
  options: {
    customers: { type: 'string', default: '10000' },
    changes: { type: 'string', default: '50' },
    runs: { type: 'string', default: '3' },
    db: { type: 'string' },
  },
});
const N = Number(opt.customers);
const CHANGES = Number(opt.changes);
const RUNS = Number(opt.runs);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const ms = (x: number): string => `${x.toFixed(1)} ms`;

async function call(cp: ControlPlane, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(cp.url + path, {
    method,
    headers: { authorization: `Bearer ${cp.token.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function seed(cp: ControlPlane): Promise<string[]> {
  const db = cp.store.db;
  const hash = await hashPassword('bench-password', { ln: 10, r: 8, p: 1 });
  await call(cp, 'PATCH', '/v1/settings', {
    listen: { host: '127.0.0.1', ports: [0, 0] },
    targetPolicy: { allow: ['127.0.0.0/8'] },
    log: { level: 'silent', access: false },
    limits: { exitProbeIntervalMs: 0 },
  });
  const exits = ['us-1', 'us-2', 'de-1', 'de-2', 'gb-1'];
  for (const [i, id] of exits.entries()) {
    await call(cp, 'POST', '/v1/exits', { id, kind: 'hopgate', host: `127.0.0.${i + 2}`, port: 7001, username: 'ingress', password: 'secret-secret', egressIp: `127.0.0.${i + 2}`, country: id.slice(0, 2) });
  }
  const ids: string[] = [];
  const t = new Date().toISOString();
  // Distinct hashes, as real customers have (random salt and digest in the real format: snapshot size and gzip are honest).
  const [, , params, salt, digest] = hash.split('$');
  const fakeHash = (): string => `$scrypt$${params}$${randomBytes(Buffer.from(salt!, 'base64').length).toString('base64')}$${randomBytes(Buffer.from(digest!, 'base64').length).toString('base64')}`;
  const rows = Array.from({ length: N }, (_, i) => {
    const id = `cus_${randomBytes(8).toString('hex')}`;
    ids.push(id);
    return {
      id,
      login: `user${String(i).padStart(6, '0')}`,
      status: 'active' as const,
      password_hash: i === 0 ? hash : fakeHash(),
      password_changed_at: t,
      sources: '[]',
      source_auth: 0,
      max_connections: 100,
      bandwidth_up: null,
      bandwidth_down: 10_000_000,
      quota_bytes: i % 3 === 0 ? 100_000_000_000 : null,
      quota_period: i % 3 === 0 ? ('month' as const) : null,
      pools: '[]',
      port_base: null,
      port_scheme: null,
      places: null,
      quota_exceeded_until: null,
      exit_grant: null,
      exit_header: 0,
      created_at: t,
      updated_at: t,
    };
  });
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += 500) await trx.insertInto('customers').values(rows.slice(i, i + 500)).execute();
    const links = ids.flatMap((id, i) => [
      { customer_id: id, position: 0, exit_id: exits[i % 5]! },
      { customer_id: id, position: 1, exit_id: exits[(i + 1) % 5]! },
    ]);
    for (let i = 0; i < links.length; i += 1000) await trx.insertInto('customer_exits').values(links.slice(i, i + 1000)).execute();
    // One revision, with its change-log entries (the config stream reads what changed from them).
    const { revision } = await trx.updateTable('config_state').set((eb) => ({ revision: eb('revision', '+', 1) })).where('id', '=', 1).returning('revision').executeTakeFirstOrThrow();
    const log = ids.map((id, seq) => ({ revision: Number(revision), seq, at: t, entity: 'customer' as const, entity_id: id, op: 'create' as const, actor: 'operator' }));
    for (let i = 0; i < log.length; i += 1000) await trx.insertInto('change_log').values(log.slice(i, i + 1000)).execute();
  });
  return ids;
}

interface RunResult {
  snapshotBytes: number;
  snapshotGzip: number;
  snapshotBuildMs: number;
  bootMs: number;
  customerP50: number;
  customerP95: number;
  customerMax: number;
  suspendP50: number;
  settingsMs: number;
  exitDrainMs: number;
  pull: Array<{ records: number; ms: number; bytes: number; gzip: number }>;
}

async function oneRun(dbSpec: string | undefined): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-bench-control-'));
  const cp = await startControlPlane({ db: dbSpec ?? `sqlite:${join(dir, 'control.sqlite')}`, stateDir: dir, port: 0, adminToken: 'bench-operator-token-0123456789', statsIntervalMs: 3_600_000 });
  let ing: ControlledIngress | undefined;
  try {
    const ids = await seed(cp);
    await cp.hub.sync();
    const t0 = performance.now();
    const line = cp.hub.snapshotLine();
    const snapshotBuildMs = performance.now() - t0;
    const snapshotBytes = Buffer.byteLength(line);
    const snapshotGzip = gzipSync(line).length;

    await call(cp, 'POST', '/v1/ingress-nodes', { id: 'bench-1', name: 'bench' });
    const { token } = await call(cp, 'POST', '/v1/ingress-nodes/bench-1/token');
    const b0 = performance.now();
    ing = await startControlledIngress({ controlUrl: cp.url, token, stateDir: join(dir, 'ingress'), workers: 1, admin: { host: '127.0.0.1', port: 0 }, log: createLogger('silent'), statsGraceMs: 0 });
    const bootMs = performance.now() - b0;
    if (ing.ingress!.runtime.snapshot.usersByLogin.size !== N) throw new Error('ingress does not hold every customer');

    const change = async (path: string, body: unknown, method = 'PATCH'): Promise<number> => {
      const s = performance.now();
      await call(cp, method, path, body);
      const rev = await cp.store.revision();
      await ing!.waitForRevision(rev, 10_000);
      return performance.now() - s;
    };
    const lat: number[] = [];
    for (let i = 0; i < CHANGES; i++) lat.push(await change(`/v1/customers/${ids[(i * 7919) % N]}`, { maxConnections: 200 + i }));
    const sus: number[] = [];
    for (let i = 0; i < 10; i++) {
      const id = ids[(i * 104729) % N]!;
      sus.push(await change(`/v1/customers/${id}`, { status: 'suspended' }));
      await change(`/v1/customers/${id}`, { status: 'active' });
    }
    const settingsMs = await change('/v1/settings', { limits: { exitProbeIntervalMs: 0, connectTimeoutMs: 9000 } });
    const exitDrainMs = await change('/v1/exits/gb-1', { drain: true });
    await change('/v1/exits/gb-1', { drain: false });

    // Statistics: one pull of K records (K customers active in one closed minute).
    const pull: RunResult['pull'] = [];
    const sub = () => [...cp.hub.subscribers][0]!;
    for (const k of [1000, N]) {
      const minute = minuteOf(Date.now() - 120_000);
      const rows: MeterRow[] = Array.from({ length: k }, (_, i): MeterRow => [minute, `user${String(i).padStart(6, '0')}`, 'us-1', 1000 + i, 50_000 + i, 3, i % 10 === 0 ? 1 : 0]);
      ing.ledger.add(rows);
      // The body the control plane receives, for its size.
      const peek = ing.ledger.pull(await cp.store.statsCursor('bench-1'));
      const body = JSON.stringify(peek);
      const s = performance.now();
      const r = await cp.collector.pull(sub());
      const took = performance.now() - s;
      if (!r.ok || r.stored !== k) throw new Error(`pull: ${JSON.stringify(r)}`);
      pull.push({ records: k, ms: took, bytes: r.bytes, gzip: gzipSync(body).length });
    }
    return {
      snapshotBytes,
      snapshotGzip,
      snapshotBuildMs,
      bootMs,
      customerP50: pct(lat, 50),
      customerP95: pct(lat, 95),
      customerMax: Math.max(...lat),
      suspendP50: pct(sus, 50),
      settingsMs,
      exitDrainMs,
      pull,
    };
  } finally {
    await ing?.stop();
    await cp.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  let dbSpec = opt.db;
  let dropSchema: (() => Promise<void>) | undefined;
  const results: RunResult[] = [];
  for (let r = 0; r < RUNS; r++) {
    if (opt.db?.startsWith('postgres')) {
      // A fresh schema per run.
      const u = new URL(opt.db);
      const schema = `hg_bench_${randomBytes(4).toString('hex')}`;
      u.searchParams.set('schema', schema);
      dbSpec = u.toString();
      u.searchParams.delete('schema');
      dropSchema = async () => {
        const c = new pg.Client({ connectionString: u.toString() });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await c.end();
      };
    }
    results.push(await oneRun(dbSpec));
    await dropSchema?.();
    process.stderr.write(`run ${r + 1}/${RUNS} done\n`);
  }
  const m = (f: (x: RunResult) => number): number => median(results.map(f));
  const db = opt.db?.startsWith('postgres') ? 'PostgreSQL' : 'SQLite';
  const lines = [
    `control plane benchmark — ${N.toLocaleString('en')} customers, ${db}, medians of ${RUNS} runs`,
    '',
    '| measure | value |',
    '| --- | --- |',
    `| full snapshot (NDJSON line) | ${(m((x) => x.snapshotBytes) / 1e6).toFixed(2)} MB, gzip ${(m((x) => x.snapshotGzip) / 1e6).toFixed(2)} MB (${Math.round(m((x) => x.snapshotBytes) / N)} B per customer) |`,
    `| build the snapshot line (control plane) | ${ms(m((x) => x.snapshotBuildMs))} |`,
    `| ingress boot from the stream (connect → listening, ${N.toLocaleString('en')} users compiled) | ${ms(m((x) => x.bootMs))} |`,
    `| customer change → in force, p50 / p95 / max (${CHANGES} changes) | ${ms(m((x) => x.customerP50))} / ${ms(m((x) => x.customerP95))} / ${ms(m((x) => x.customerMax))} |`,
    `| suspension → in force, p50 | ${ms(m((x) => x.suspendP50))} |`,
    `| settings change → in force (users reused) | ${ms(m((x) => x.settingsMs))} |`,
    `| exit drained → in force (every user re-rendered and recompiled) | ${ms(m((x) => x.exitDrainMs))} |`,
    ...results[0]!.pull.map(
      (_, i) =>
        `| stats pull, ${results[0]!.pull[i]!.records.toLocaleString('en')} records (fetch + store) | ${ms(m((x) => x.pull[i]!.ms))}, ${(m((x) => x.pull[i]!.bytes) / 1e3).toFixed(0)} kB (gzip ${(m((x) => x.pull[i]!.gzip) / 1e3).toFixed(0)} kB) |`,
    ),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);

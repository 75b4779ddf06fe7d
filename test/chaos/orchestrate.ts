/**
 * One chaos run against one database, inside the lab's hub namespace (run.ts
 * starts it there): start the network, then for each fault run client
 * traffic, inject the fault, lift it, let usage collection settle and measure.
 * Writes the figures as JSON to CHAOS_OUT.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, createCustomer, exitId, INGRESS_PORT, REVERSE_ID, usageOf } from './cluster.js';
import { FAULTS, tmpfsStateWrap, type Fault, type FaultContext } from './faults.js';
import { figures, type PhaseFigures } from './measure.js';
import type { Lab } from './netns.js';
import { startBytesServer } from './targets.js';
import { MODES, oneRequest, TrafficRun, type RequestSpec } from './traffic.js';
import { killAllStarted } from '../helpers/procs.js';
import { eventually } from '../helpers/eventually.js';
import { pickedUpByTestRunner } from '../helpers/command.js';

if (pickedUpByTestRunner()) process.exit(0); // a command, not a test file
const lab = JSON.parse(process.env.CHAOS_LAB!) as Lab;
const dialect = process.env.CHAOS_DIALECT as 'sqlite' | 'postgres';
const dir = process.env.CHAOS_DIR!;
const only = process.env.CHAOS_ONLY; // a substring of fault names, to run a subset
const node = (n: string): { ns: string; ip: string } => lab.nodes[n]!;
const TARGET = { host: lab.hubIp, port: 9000 };
const BYTES = 32 * 1024;
const CONCURRENCY = 6;
const PRE_MS = 4000;
const POST_MS = 10_000;

const stateDir2 = join(dir, 'ing-2-state');
const cluster = new Cluster({
  dir,
  db: process.env.CHAOS_DB!,
  cp: node('cp'),
  ingresses: [node('i1'), { ...node('i2'), wrap: tmpfsStateWrap(stateDir2) }],
  exits: [node('e1'), node('e2'), node('e3')],
  reverse: node('rv'),
  listenHost: '0.0.0.0',
  net: lab.subnet,
  statsIntervalMs: 1000,
  workers: 1,
});

const ctx: FaultContext = {
  cluster,
  lab,
  dialect,
  pg: (on) => process.kill(process.ppid, on ? 'SIGUSR2' : 'SIGUSR1'),
};

/** Every (ingress, exit) pair a customer can use: the reverse exit dials ingress 1 only. */
const PATHS: { ingress: string; exit: string }[] = [];
for (const ingress of ['i1', 'i2']) for (const exit of ['e1', 'e2', 'e3', 'rv']) if (!(ingress === 'i2' && exit === 'rv')) PATHS.push({ ingress, exit });

function spec(i: number, user: { login: string; password: string }): RequestSpec {
  const p = PATHS[i % PATHS.length]!;
  const mode = MODES[Math.floor(i / PATHS.length) % MODES.length]!;
  return {
    mode,
    proxy: { host: node(p.ingress).ip, port: INGRESS_PORT },
    ingress: p.ingress,
    exit: p.exit,
    user: `${user.login}-exitip-${node(p.exit).ip}`,
    password: user.password,
    target: TARGET,
    bytes: BYTES,
    timeoutMs: 8000,
  };
}

/** A customer created now: ms until the API took it and until it was served through both ingresses (null: not within 60 s). */
async function controlProbe(login: string, since: number): Promise<{ apiMs: number | null; servedMs: number | null }> {
  const deadline = Date.now() + 60_000;
  const left = (): number => Math.max(0, deadline - Date.now());
  // Not within the 60 s is a figure (null), not a failure.
  const user = await eventually(`${login} taken by the API`, () => createCustomer(cluster.api, login, [exitId(0)]), { timeoutMs: left(), everyMs: 200 }).catch(() => undefined);
  if (!user) return { apiMs: null, servedMs: null };
  const apiMs = Date.now() - since;
  for (const ingress of ['i1', 'i2']) {
    const servedHere = await eventually(`${login} served through ${ingress}`, async () =>
      (await oneRequest({ ...spec(0, user), mode: 'connect', ingress, exit: 'e1', proxy: { host: node(ingress).ip, port: INGRESS_PORT }, user: user.login, timeoutMs: 3000 })).ok,
    { timeoutMs: left(), everyMs: 100 }).catch(() => false);
    if (!servedHere) return { apiMs, servedMs: null };
  }
  return { apiMs, servedMs: Date.now() - since };
}

const secs = (ms: number | null): string => (ms === null ? 'never (60 s)' : `${(ms / 1000).toFixed(1)} s`);

/**
 * Usage recorded for a login once collection has settled: both ingresses pulled after the
 * traffic stopped (a stream that reconnects with backoff after a control-plane fault is
 * pulled only once back), then two equal reads. Open minutes are included (live rows).
 */
async function settledUsage(login: string, stoppedAt: number): Promise<{ bytesUp: number; bytesDown: number }> {
  const deadline = Date.now() + 60_000;
  const pulledSince = async (): Promise<boolean> => {
    const r = await cluster.api<{ nodes: { statsPulledAt: string | null }[] }>('GET', '/v1/ingress-nodes').catch(() => undefined);
    const nodes = r?.status === 200 ? r.body.nodes : [];
    return nodes.length === 2 && nodes.every((x) => x.statsPulledAt !== null && Date.parse(x.statsPulledAt) > stoppedAt + 3000);
  };
  // Not pulled within the deadline: measured as it is.
  await eventually('both ingresses pulled after the traffic', pulledSince, { timeoutMs: Math.max(0, deadline - Date.now()), everyMs: 500 }).catch(() => undefined);
  let last = '';
  let same = 0;
  let u = { bytesUp: 0, bytesDown: 0 };
  while (Date.now() < deadline && same < 2) {
    u = await usageOf(cluster.api, login).catch(() => u);
    const key = `${u.bytesUp}/${u.bytesDown}`;
    same = key === last ? same + 1 : 0;
    last = key;
    await new Promise((r) => setTimeout(r, 1500));
  }
  return u;
}

/** Wait until a new customer is in force on both ingresses (the change travels the config stream); the bytes it took. */
async function served(user: { login: string; password: string }): Promise<{ up: number; down: number }> {
  const moved = { up: 0, down: 0 };
  const deadline = Date.now() + 15_000;
  for (const ingress of ['i1', 'i2']) {
    // A failed request throws its reason: the timeout error then names the last one.
    await eventually(`${user.login} served through ${ingress}`, async () => {
      const o = await oneRequest({ ...spec(0, user), mode: 'connect', ingress, exit: 'e3', proxy: { host: node(ingress).ip, port: INGRESS_PORT }, user: `${user.login}-exitip-${node('e3').ip}` });
      moved.up += o.up;
      moved.down += o.down;
      if (!o.ok) throw new Error(o.what);
      return true;
    }, { timeoutMs: Math.max(0, deadline - Date.now()), everyMs: 100 });
  }
  return moved;
}

async function phase(n: number, fault: Fault): Promise<PhaseFigures> {
  process.stderr.write(`chaos[${dialect}]: ${fault.name}\n`);
  const user = await createCustomer(cluster.api, `chaos${n}`, [exitId(0), exitId(1), exitId(2), REVERSE_ID]);
  const warm = await served(user);
  const run = new TrafficRun((i) => spec(i, user), CONCURRENCY, 3000);
  run.start();
  await new Promise((r) => setTimeout(r, PRE_MS));
  const start = Date.now();
  await fault.inject(ctx);
  const during = fault.probeDuring ? controlProbe(`during${n}`, Date.now()) : undefined;
  await new Promise((r) => setTimeout(r, fault.holdMs));
  const end = Date.now();
  const notes: string[] = [];
  await fault.lift(ctx).catch((e: Error) => notes.push(`lift failed: ${e.message.slice(0, 200)}`));
  const control = fault.affects === 'control' ? controlProbe(`probe${n}`, end) : undefined;
  await new Promise((r) => setTimeout(r, POST_MS));
  const probe = await control;
  if (probe) notes.push(`after the fault: API took a new customer in ${secs(probe.apiMs)}, served on both ingresses in ${secs(probe.servedMs)}`);
  const d = await during;
  if (d) notes.push(`a customer created during the fault: API ${secs(d.apiMs)}, served on both ingresses in ${secs(d.servedMs)}`);
  const controlMs = probe ? probe.servedMs : null;
  await run.stop();
  const stoppedAt = Date.now();
  const dead = cluster.all().filter((p) => !p.alive());
  for (const p of dead) {
    const code = await p.exited;
    notes.push(`${p.name} DIED (exit ${code})`);
    process.stderr.write(`chaos[${dialect}]: ${fault.name}: ${p.name} died (exit ${code}); its stderr ends:\n${p.stderrTail()}\n`);
    // Bring it back so the next phase starts whole.
    const i = cluster.ingresses.indexOf(p);
    const e = cluster.exits.indexOf(p);
    if (i >= 0) await cluster.startIngress(i);
    else if (e >= 0) await cluster.startExit(e);
    else if (p === cluster.reverse) await cluster.startReverse();
    else if (p === cluster.cp) await cluster.startControl();
  }
  const recorded = await settledUsage(user.login, stoppedAt);
  const f = figures(fault.name, run.outcomes, { start, end }, fault.affects, controlMs, recorded, warm);
  return { ...f, notes: [...f.notes, ...notes] };
}

async function main(): Promise<void> {
  const target = await startBytesServer(TARGET.host, TARGET.port);
  const rows: PhaseFigures[] = [];
  try {
    await cluster.startAll();
    const faults = FAULTS.filter((f) => (!f.only || f.only === dialect) && (!only || f.name.includes(only) || f.name.startsWith('baseline')));
    for (const [n, fault] of faults.entries()) {
      rows.push(await phase(n, fault));
      writeFileSync(process.env.CHAOS_OUT!, JSON.stringify(rows));
    }
  } finally {
    await cluster.stopAll().catch(() => undefined);
    killAllStarted();
    target.close();
  }
}

process.once('SIGTERM', () => {
  killAllStarted();
  process.exit(143);
});
main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`chaos[${dialect}] failed: ${(err as Error).stack}\n`);
    killAllStarted();
    process.exit(2);
  },
);

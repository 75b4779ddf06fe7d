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

/** After a control-plane fault: ms until a customer created now is served through both ingresses. */
async function controlProbe(phase: number, since: number): Promise<number | null> {
  const deadline = Date.now() + 60_000;
  let user: { login: string; password: string } | undefined;
  while (!user && Date.now() < deadline) {
    user = await createCustomer(cluster.api, `probe${phase}`, [exitId(0)]).catch(() => undefined);
    if (!user) await new Promise((r) => setTimeout(r, 200));
  }
  if (!user) return null;
  for (const ingress of ['i1', 'i2']) {
    for (;;) {
      if (Date.now() > deadline) return null;
      const o = await oneRequest({ ...spec(0, user), mode: 'connect', ingress, exit: 'e1', proxy: { host: node(ingress).ip, port: INGRESS_PORT }, user: user.login, timeoutMs: 3000 });
      if (o.ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return Date.now() - since;
}

/** Usage recorded for a login once it stops changing (pulls every second, live minutes included). */
async function settledUsage(login: string): Promise<{ bytesUp: number; bytesDown: number }> {
  let last = '';
  let same = 0;
  let u = { bytesUp: 0, bytesDown: 0 };
  const deadline = Date.now() + 30_000;
  await new Promise((r) => setTimeout(r, 3000));
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
    for (;;) {
      const o = await oneRequest({ ...spec(0, user), mode: 'connect', ingress, exit: 'e3', proxy: { host: node(ingress).ip, port: INGRESS_PORT }, user: `${user.login}-exitip-${node('e3').ip}` });
      moved.up += o.up;
      moved.down += o.down;
      if (o.ok) break;
      if (Date.now() > deadline) throw new Error(`${user.login} not served through ${ingress} within 15 s: ${o.what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return moved;
}

async function phase(n: number, fault: Fault): Promise<PhaseFigures> {
  process.stderr.write(`chaos[${dialect}]: ${fault.name}\n`);
  const user = await createCustomer(cluster.api, `chaos${n}`, [exitId(0), exitId(1), exitId(2), REVERSE_ID]);
  const warm = await served(user);
  const run = new TrafficRun((i) => spec(i, user), CONCURRENCY, 5000);
  run.start();
  await new Promise((r) => setTimeout(r, PRE_MS));
  const start = Date.now();
  await fault.inject(ctx);
  await new Promise((r) => setTimeout(r, fault.holdMs));
  const end = Date.now();
  const notes: string[] = [];
  await fault.lift(ctx).catch((e: Error) => notes.push(`lift failed: ${e.message.slice(0, 200)}`));
  const control = fault.affects === 'control' ? controlProbe(n, end) : Promise.resolve(null);
  await new Promise((r) => setTimeout(r, POST_MS));
  const controlMs = await control;
  await run.stop();
  const recorded = await settledUsage(user.login);
  const f = figures(fault.name, run.outcomes, { start, end }, fault.affects, controlMs, recorded, warm);
  const dead = cluster.all().filter((p) => !p.alive());
  for (const p of dead) {
    notes.push(`${p.name} DIED (${p.stderrTail().split('\n').filter(Boolean).at(-1)?.slice(0, 200) ?? ''})`);
    // Bring it back so the next phase starts whole.
    const i = cluster.ingresses.indexOf(p);
    const e = cluster.exits.indexOf(p);
    if (i >= 0) await cluster.startIngress(i);
    else if (e >= 0) await cluster.startExit(e);
    else if (p === cluster.reverse) await cluster.startReverse();
    else if (p === cluster.cp) await cluster.startControl();
  }
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

/**
 * The chaos suite, one command: `npm run chaos [-- --db sqlite|postgres|both] [--only TEXT] [--write-docs]`.
 *
 * In the root namespace it builds the lab (netns.ts), owns the PostgreSQL
 * forwarder (pg-forwarder.ts; SIGUSR1 from the orchestrator cuts it, SIGUSR2
 * restores it), and runs orchestrate.js inside the hub namespace once per
 * database. Whatever happens, every process left in the lab's namespaces is
 * killed and the namespaces, the PostgreSQL schema and the files are removed.
 * Prints the markdown table; --write-docs puts it into docs/RELIABILITY.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createLab, destroyLab, labUnavailable, type Lab } from './netns.js';
import { PgForwarder } from './pg-forwarder.js';
import { chaosTable } from './report.js';
import type { PhaseFigures } from './measure.js';
import { pickedUpByTestRunner } from '../helpers/command.js';

if (pickedUpByTestRunner()) process.exit(0); // a command, not a test file
const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'both' },
    only: { type: 'string' },
    'write-docs': { type: 'boolean', default: false },
  },
});
const PG_URL = process.env.HOPGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ORCH = resolve(fileURLToPath(import.meta.url), '../orchestrate.js');
const DOCS = resolve(fileURLToPath(import.meta.url), '../../../../docs/RELIABILITY.md');

let lab: Lab | undefined;
const dirs: string[] = [];
const schemas: string[] = [];
let forwarder: PgForwarder | undefined;

async function pgQuery(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

function killLabProcesses(): void {
  if (!lab) return;
  for (const ns of [lab.hub, ...Object.values(lab.nodes).map((n) => n.ns)]) {
    const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
    for (const pid of pids) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

let interrupted = false;
let cleaning: Promise<void> = Promise.resolve();
/** Serialized: a signal's cleanup and the run's own never race (the exit waits for a schema drop in flight). */
function cleanup(): Promise<void> {
  cleaning = cleaning.then(cleanupNow, cleanupNow);
  return cleaning;
}

async function cleanupNow(): Promise<void> {
  killLabProcesses();
  if (lab) destroyLab(lab);
  lab = undefined;
  forwarder?.close();
  for (const s of schemas.splice(0)) await pgQuery(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

async function runOnce(dialect: 'sqlite' | 'postgres'): Promise<PhaseFigures[]> {
  const dir = mkdtempSync(join(tmpdir(), `hopgate-chaos-${dialect}-`));
  dirs.push(dir);
  let db = `sqlite:${join(dir, 'control.sqlite')}`;
  if (dialect === 'postgres') {
    const schema = `hg_chaos_${randomBytes(5).toString('hex')}`;
    schemas.push(schema);
    forwarder = new PgForwarder(dir);
    await forwarder.listen();
    const u = new URL(PG_URL);
    db = `postgres://${u.username}@localhost${u.pathname}?host=${encodeURIComponent(dir)}&schema=${schema}`;
  }
  const out = join(dir, 'figures.json');
  if (!lab) throw new Error('interrupted');
  const child = spawn('ip', ['netns', 'exec', lab.hub, process.execPath, ORCH], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, CHAOS_LAB: JSON.stringify(lab), CHAOS_DIALECT: dialect, CHAOS_DB: db, CHAOS_DIR: dir, CHAOS_OUT: out, ...(values.only ? { CHAOS_ONLY: values.only } : {}) },
  });
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  killLabProcesses(); // anything the orchestrator left behind
  forwarder?.close();
  forwarder = undefined;
  let rows: PhaseFigures[] = [];
  try {
    rows = JSON.parse(readFileSync(out, 'utf8')) as PhaseFigures[];
  } catch { /* nothing measured */ }
  if (code !== 0) process.stderr.write(`chaos[${dialect}]: orchestrator exited ${code}\n`);
  return rows;
}

async function main(): Promise<number> {
  const why = labUnavailable();
  if (why) {
    process.stderr.write(`chaos: cannot run: ${why}\n`);
    return 2;
  }
  const dialects: ('sqlite' | 'postgres')[] = values.db === 'both' ? ['sqlite', 'postgres'] : [values.db as 'sqlite' | 'postgres'];
  if (dialects.includes('postgres')) {
    const ok = await pgQuery('select 1').then(() => true, () => false);
    if (!ok) {
      process.stderr.write(`chaos: PostgreSQL at ${PG_URL} unreachable: PostgreSQL variant skipped\n`);
      dialects.splice(dialects.indexOf('postgres'), 1);
    }
  }
  process.on('SIGUSR1', () => forwarder?.cut());
  process.on('SIGUSR2', () => forwarder?.restore());
  const started = new Date();
  const tables: string[] = [];
  let failed = false;
  for (const d of dialects) {
    if (interrupted) break;
    lab = createLab({ cp: 2, i1: 11, i2: 12, e1: 21, e2: 22, e3: 23, rv: 31 });
    try {
      const rows = await runOnce(d);
      // A process that died on its own (not the one a fault killed: that one is started again) fails the run.
      const died = rows.filter((r) => r.notes.some((n) => n.includes('DIED')));
      if (rows.length === 0 || died.length > 0) failed = true;
      for (const r of died) process.stderr.write(`chaos[${d}]: FAILED: ${r.fault}: ${r.notes.join('; ')}\n`);
      tables.push(chaosTable(d === 'sqlite' ? 'Control plane on SQLite' : 'Control plane on PostgreSQL (through a forwarder the suite cuts)', rows));
    } finally {
      await cleanup();
    }
  }
  const md = `Measured ${started.toISOString()} with \`npm run chaos\` (${process.version}, ${process.arch}).\n\n${tables.join('\n\n')}\n`;
  process.stdout.write(md);
  if (values['write-docs']) {
    const doc = readFileSync(DOCS, 'utf8');
    const re = /(<!-- chaos:begin -->\n)[\s\S]*?(<!-- chaos:end -->)/;
    if (!re.test(doc)) throw new Error(`${DOCS} has no chaos:begin/end markers`);
    writeFileSync(DOCS, doc.replace(re, `$1${md}$2`));
  }
  return failed ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    const exit = (): never => process.exit(130);
    cleanup().then(exit, exit);
  });
}
main().then(
  (code) => cleanup().then(() => process.exit(code), () => process.exit(code)),
  (err) => {
    process.stderr.write(`chaos failed: ${(err as Error).stack}\n`);
    const exit = (): never => process.exit(2);
    cleanup().then(exit, exit);
  },
);

/**
 * Two builds of hopgate side by side in one run: is a change (a refactor, say)
 * within noise of what it replaced? Each build runs an ingress with direct
 * egress and an ingress routing through one `hopgate exit`; direct and
 * microsocks are the reference rows. Rounds alternate between the subjects so
 * both builds see the same noise; medians over rounds. Setup rates come from
 * the C generator (bench/loadgen.c); CPU per setup is the subject's processes'
 * user + system time from /proc, divided by the setups.
 *
 *   npm run build
 *   git worktree add /tmp/base <commit> && (cd /tmp/base && npm ci && npm run build)
 *   node dist/bench/compare-builds.js --base /tmp/base [--rounds 7] [--ms 2000]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildLoadgen } from './loadgen.js';
import { cpuUs } from './proc-cpu.js';
import { firstLine, waitPort } from './child-procs.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: { base: { type: 'string' }, rounds: { type: 'string', default: '7' }, ms: { type: 'string', default: '2000' } },
});
if (!opt.base) throw new Error('--base DIR (a checkout of the other build, built) is required');
const ROUNDS = Number(opt.rounds);
const MS = Number(opt.ms);
const USER = 'bench';
const PASS = 'bench-pass-123';
const SECRET = 'bench-relay-secret';
const work = mkdtempSync(join(tmpdir(), 'hopgate-ab-'));
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGTERM'))); // ours, by PID
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

const loadgen = buildLoadgen(work);
if (!loadgen) throw new Error('needs cc to build bench/loadgen.c');

function start(cmd: string, args: string[], env: Record<string, string> = {}, quiet = false): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', quiet ? 'ignore' : 'pipe', 'inherit'], env: { ...process.env, ...env } });
  children.push(child);
  return child;
}

interface Subject {
  name: string;
  via?: { port: number; user?: string; pass?: string };
  pids: number[];
}

/** One build's two subjects: ingress with direct egress, and ingress → one hopgate exit. */
async function startBuild(label: string, root: string, port: number, exitIp: string): Promise<Subject[]> {
  const cli = join(root, 'dist', 'src', 'cli', 'main.js');
  const hash = spawnSync(process.execPath, [cli, 'hash-password'], { input: PASS }).stdout.toString().trim();
  if (!hash.startsWith('$scrypt$')) throw new Error(`${label}: hash-password gave ${hash}`);
  const exit = start(process.execPath, [cli, 'exit', '--listen', `${exitIp}:${port + 5}`, '--egress', exitIp, '--allow-from', '127.0.0.0/8', '--allow-target', '127.0.0.0/8'], { HOPGATE_EXIT_SECRET: SECRET });
  await waitPort(port + 5, exitIp);
  const ingress = async (name: string, port: number, exits: string[]): Promise<ChildProcess> => {
    const cfg = join(work, `${label.replace(/ /g, '-')}-${name}.yaml`);
    writeFileSync(cfg, [
      `listen: { host: 127.0.0.1, ports: [${port}, ${port}] }`,
      'workers: 1',
      'targetPolicy: { allow: [127.0.0.0/8] }',
      'log: { level: error, access: false }',
      ...exits,
      'users:',
      `  - { login: ${USER}, passwordHash: '${hash}' }`,
    ].join('\n'));
    const child = start(process.execPath, [cli, 'ingress', '--config', cfg, '--workers', '1']);
    await waitPort(port);
    return child;
  };
  const direct = await ingress('direct', port, []);
  const routed = await ingress('exit', port + 1, ['exits:', `  - { id: x1, kind: hopgate, host: ${exitIp}, port: ${port + 5}, username: ingress, password: ${SECRET}, egressIp: ${exitIp}, country: us }`]);
  return [
    { name: `${label}: ingress, direct egress`, via: { port, user: USER, pass: PASS }, pids: [direct.pid!] },
    { name: `${label}: ingress → 1 exit`, via: { port: port + 1, user: USER, pass: PASS }, pids: [routed.pid!, exit.pid!] },
  ];
}

const target = start(process.execPath, [join(here, 'target.js')]);
const echo = (JSON.parse(await firstLine(target)) as { echo: number[] }).echo;
const subjects: Subject[] = [{ name: 'direct', pids: [] }];
if (spawnSync('which', ['microsocks']).status === 0) {
  const ms = start('microsocks', ['-i', '127.0.0.1', '-p', '18990', '-u', USER, '-P', PASS], {}, true); // it logs every connection on stdout
  await waitPort(18990);
  subjects.push({ name: 'microsocks', via: { port: 18990, user: USER, pass: PASS }, pids: [ms.pid!] });
}
subjects.push(...(await startBuild('this build', resolve(here, '..', '..'), 18900, '127.0.0.42')));
subjects.push(...(await startBuild('base build', resolve(opt.base), 18950, '127.0.0.43')));

async function setup(s: Subject, ms: number): Promise<{ perSec: number; cpuUs: number; errors: number }> {
  const args = ['--echo', echo.join(','), '--c', '64', '--ms', String(ms)];
  if (s.via) args.push('--via', String(s.via.port), '--user', s.via.user!, '--pass', s.via.pass!);
  const cpu0 = cpuUs(s.pids);
  const r = JSON.parse(await firstLine(start(loadgen!, args))) as { perSec: number; count: number; errors: number };
  return { perSec: r.perSec, cpuUs: s.pids.length ? (cpuUs(s.pids) - cpu0) / Math.max(1, r.count) : NaN, errors: r.errors };
}

for (const s of subjects) await setup(s, 300); // warm-up
const results = new Map<string, Array<{ perSec: number; cpuUs: number; errors: number }>>();
const load: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  load.push(loadavg()[0]!);
  // Alternate the order each round so neither build always runs right after the other.
  const order = round % 2 ? [...subjects].reverse() : subjects;
  for (const s of order) {
    const r = await setup(s, MS);
    results.set(s.name, [...(results.get(s.name) ?? []), r]);
  }
}
const median = (xs: number[]): number => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)]! : NaN;
};
const direct = median(results.get('direct')!.map((r) => r.perSec));
console.log(`Setups at c=64 (C generator), medians of ${ROUNDS} alternating rounds of ${MS} ms; load average ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)}.\n`);
console.log('| subject | setups/s | × direct | CPU µs per setup (its processes) | spread of setups/s (min–max) | errors |');
console.log('|---|---|---|---|---|---|');
for (const s of subjects) {
  const rs = results.get(s.name)!;
  const rate = median(rs.map((r) => r.perSec));
  const cpu = median(rs.map((r) => r.cpuUs));
  const rates = rs.map((r) => r.perSec);
  console.log(`| ${s.name} | ${rate.toFixed(0)} | ${(rate / direct).toFixed(2)}× | ${Number.isFinite(cpu) ? cpu.toFixed(0) : '–'} | ${Math.min(...rates).toFixed(0)}–${Math.max(...rates).toFixed(0)} | ${rs.reduce((a, r) => a + r.errors, 0)} |`);
}
process.exit(0);

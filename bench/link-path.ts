/**
 * Bytes and echoes through one hopgate exit, over a link and over SOCKS5, in
 * one run (issue 19): where the link path loses against the SOCKS5 path.
 * One target process, one `hopgate exit` (SOCKS5 port and --link-listen), one
 * ingress with 1 worker routing `-cc-aa` to the exit over SOCKS5 and `-cc-ll`
 * to the same exit process over a link. Subjects: direct, the exit alone
 * (its SOCKS5 port, for what the exit leg costs by itself), ingress → exit
 * over SOCKS5, ingress → exit over a link, and over a link through a hop
 * (`-cc-lv`: the exit's own SOCKS5 port as the hop, so the link's TLS runs
 * over a socket given to tls.connect, where Node ignores onread).
 *
 * Per subject and round: bulk MB/s with 1 and 8 streams and CPU µs per MB
 * (user + system of the ingress and the exit from /proc over the whole load
 * process, divided by every byte it received; a second table splits it per process), read and write system calls
 * per MB (/proc/PID/io, which load does not change), minor page faults per MB (per round,
 * on stderr), 64 B echo p50/p99 and CPU µs
 * per echo (also split per process). CPU per MB and the echo distributions are what a loaded machine
 * does not spoil much; MB/s swings with the neighbours. Rounds alternate the
 * subjects; medians over rounds.
 *
 *   npm run build && node dist/bench/link-path.js [--rounds 3] [--ms 2000] [--echoes 2000] [--only REGEX] [--prof DIR] [--base DIR] [--ingress-flags='NODE FLAGS']
 *
 * For the link leg alone (no ingress, no exit: a LinkSession each side),
 * `node --expose-gc dist/bench/link.js --phases bulk,echo`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hashPassword } from '../src/shared/auth/password-hash.js';
import type { Job, Via } from './load.js';
import { cpuUs, minorFaults } from './proc-cpu.js';
import { firstLine, waitPort } from './child-procs.js';
import { linkedIngressYaml, pinnedLink } from './linked-exit.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'src', 'cli', 'main.js');
const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    ms: { type: 'string', default: '2000' },
    echoes: { type: 'string', default: '2000' },
    only: { type: 'string' },
    /** Write V8 CPU profiles of the ingress and the exit here (node --cpu-prof). */
    prof: { type: 'string' },
    /** Another build's checkout (built, with node_modules): its ingress and exit run beside this one's, rows marked [base]. */
    base: { type: 'string' },
    /**
     * Node/V8 flags for this build's ingress only (not the [base] one's), space-separated: an A/B of a
     * V8 setting in the same rounds, e.g. `--ingress-flags=--max-semi-space-size=8` (with '=': the value starts with a dash) (docs/BENCHMARKS.md, "the ingress's
     * full-GC spiral"). Heap sizes must be given at start: NODE_OPTIONS refuses some, and the bench's own
     * processes would take them too.
     */
    'ingress-flags': { type: 'string' },
  },
});
const ROUNDS = Number(opt.rounds);
const MS = Number(opt.ms);
const ECHOES = Number(opt.echoes);
const PROF = opt.prof ? ['--cpu-prof', '--cpu-prof-dir', opt.prof] : [];
const INGRESS_FLAGS = opt['ingress-flags']?.split(' ').filter((f) => f !== '') ?? [];
const USER = 'bench';
const PASS = 'bench-pass-123';
const SECRET = 'bench-relay-secret';
const work = mkdtempSync(join(tmpdir(), 'hopgate-linkpath-'));
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGTERM'))); // ours, by PID
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

function start(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  children.push(child);
  return child;
}

/** read and write system calls of `pids` so far (/proc/PID/io syscr + syscw): per MB, a measure the neighbours' load does not change. */
function ioCalls(pids: readonly number[]): number {
  let n = 0;
  for (const p of pids) {
    try {
      const io = readFileSync(`/proc/${p}/io`, 'utf8');
      n += Number(/syscr: (\d+)/.exec(io)?.[1] ?? 0) + Number(/syscw: (\d+)/.exec(io)?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return n;
}

async function load(job: Job): Promise<Record<string, number>> {
  const child = start(process.execPath, [join(here, 'load.js'), JSON.stringify(job)]);
  return JSON.parse(await firstLine(child)) as Record<string, number>;
}

interface Subject {
  name: string;
  via?: Via;
  /** Processes whose CPU is the subject's. */
  pids: number[];
}

/** One exit and one ingress of the build whose CLI is `cliPath`; `label` names its rows; `ingressFlags` go to its node. */
async function startPair(cliPath: string, label: string, base: number, ingressFlags: readonly string[] = []): Promise<Subject[]> {
  // The exit listens where the load generator connects (127.0.0.1) and sends from 127.0.0.2.
  const ip = '127.0.0.1';
  const exitPort = base + 1;
  const linkPort = base + 2;
  const link = pinnedLink(work, `-${base}`, `${ip}:${linkPort}`);
  const exit = start(
    process.execPath,
    [...PROF, cliPath, 'exit', '--listen', `${ip}:${exitPort}`, '--egress', '127.0.0.2', '--allow-from', '127.0.0.0/8', '--allow-target', '127.0.0.0/8', ...link.exitArgs],
    { HOPGATE_EXIT_SECRET: SECRET },
  );
  exit.stdout!.resume();
  await waitPort(exitPort, ip);
  await waitPort(linkPort, ip);
  const hash = await hashPassword(PASS, { ln: 14, r: 8, p: 1 });
  const cfg = join(work, `ingress-${base}.yaml`);
  // The same exit over a link through a hop, the exit's own SOCKS5 port (`-cc-lv`): the link's TLS runs over a given socket.
  const viaHop = `{ id: one-via, kind: hopgate, host: ${ip}, port: ${exitPort}, username: ingress, password: ${SECRET}, country: lv, via: [{ kind: hopgate, host: ${ip}, port: ${exitPort}, username: ingress, password: ${SECRET} }], link: { port: ${linkPort}, fingerprint: '${link.exitFp}' } }`;
  writeFileSync(cfg, linkedIngressYaml({ port: base, user: USER, passwordHash: hash, exit: { host: ip, port: exitPort, secret: SECRET }, linkPort, link, moreExits: [viaHop] }));
  const ingress = start(process.execPath, [...PROF, ...ingressFlags, cliPath, 'ingress', '--config', cfg, '--workers', '1']);
  ingress.stdout!.resume();
  await waitPort(base);
  const both = [ingress.pid!, exit.pid!];
  process.stderr.write(`pids${label}: ingress ${ingress.pid} exit ${exit.pid} (for perf record -p)\n`);
  return [
    { name: `exit alone (SOCKS5)${label}`, via: { port: exitPort, user: 'ingress', pass: SECRET }, pids: [exit.pid!] },
    { name: `ingress → exit (SOCKS5)${label}`, via: { port: base, user: `${USER}-cc-aa`, pass: PASS }, pids: both },
    { name: `ingress → exit (link)${label}`, via: { port: base, user: `${USER}-cc-ll`, pass: PASS }, pids: both },
    { name: `ingress → hop → exit (link via hop)${label}`, via: { port: base, user: `${USER}-cc-lv`, pass: PASS }, pids: both },
  ];
}

async function main(): Promise<void> {
  const target = start(process.execPath, [join(here, 'target.js')]);
  const t = JSON.parse(await firstLine(target)) as { echo: number[]; source: number };
  const base = 12000 + Math.floor(Math.random() * 1500) * 4; // below the ephemeral range (32768+)
  let subjects: Subject[] = [{ name: 'direct', pids: [] }, ...(await startPair(cli, '', base, INGRESS_FLAGS))];
  if (opt.base) subjects.push(...(await startPair(join(opt.base, 'dist', 'src', 'cli', 'main.js'), ' [base]', base + 8_000)));
  if (opt.only !== undefined) {
    const only = new RegExp(opt.only);
    subjects = subjects.filter((s) => s.name === 'direct' || only.test(s.name));
  }
  // The exit's SOCKS5 port answers only an ingress address; loopback is one here. Warm-up: JIT, scrypt once per credential, the link up.
  for (const s of subjects) await load({ kind: 'latency', via: s.via, echo: t.echo, rounds: 200 });

  type Row = Record<string, number>;
  const rows = new Map<string, Row[]>();
  const loads: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    loads.push(loadavg()[0]!.toFixed(1));
    for (const s of subjects) {
      const row: Row = {};
      for (const streams of [1, 8]) {
        const c0 = cpuUs(s.pids);
        const each0 = s.pids.map((p) => cpuUs([p]));
        const k0 = ioCalls(s.pids);
        const f0 = minorFaults(s.pids);
        const r = await load({ kind: 'bulk', via: s.via, source: t.source, streams, ms: MS });
        row[`bulk${streams}`] = r.mbPerSec!;
        row[`cpuMb${streams}`] = (cpuUs(s.pids) - c0) / Math.max(1e-9, r.mb!);
        // Per process too (ingress, exit): one side's change is not lost in the other's noise.
        s.pids.forEach((p, i) => (row[`cpuMb${streams}_${i}`] = (cpuUs([p]) - each0[i]!) / Math.max(1e-9, r.mb!)));
        row[`callsMb${streams}`] = (ioCalls(s.pids) - k0) / Math.max(1e-9, r.mb!);
        // Per round only (stderr): fresh memory touched per MB, which copies into new buffers cost.
        row[`faultsMb${streams}`] = (minorFaults(s.pids) - f0) / Math.max(1e-9, r.mb!);
      }
      const c0 = cpuUs(s.pids);
      const echo0 = s.pids.map((p) => cpuUs([p]));
      const l = await load({ kind: 'latency', via: s.via, echo: t.echo, rounds: ECHOES });
      row.echoP50 = l.p50us!;
      row.echoP99 = l.p99us!;
      row.cpuEcho = (cpuUs(s.pids) - c0) / ECHOES;
      s.pids.forEach((p, i) => (row[`cpuEcho_${i}`] = (cpuUs([p]) - echo0[i]!) / ECHOES));
      rows.set(s.name, [...(rows.get(s.name) ?? []), row]);
      process.stderr.write(`round ${round + 1}/${ROUNDS} ${s.name}: ${JSON.stringify(row, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v) : v))}\n`);
    }
  }

  const median = (xs: number[]): number => {
    const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
    return v.length ? v[Math.floor((v.length - 1) / 2)]! : NaN;
  };
  const med = (name: string, key: string): number => median((rows.get(name) ?? []).map((r) => r[key]!));
  const each = (name: string, key: string): string => (rows.get(name) ?? []).map((r) => Math.round(r[key]!)).join(' ');
  const fmt = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
  const ratio = (x: number, ref: number): string => (ref ? `${(x / ref).toFixed(2)}×` : '–');
  const out = [
    `Medians of ${ROUNDS} rounds (load average at each round's start: ${loads.join(', ')}); ${MS} ms of bulk, ${ECHOES} echoes; CPU = ingress + exit from /proc (the exit alone for its own row).`,
    '',
    '| subject | bulk 1 stream MB/s | CPU µs/MB | reads+writes /MB | bulk 8 streams MB/s | CPU µs/MB | reads+writes /MB | 64 B echo p50 / p99 µs | CPU µs/echo |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of subjects) {
    const n = s.name;
    const cpu = (k: string): string => (s.pids.length ? `${fmt(med(n, k))} (${each(n, k)})` : '–');
    out.push(
      `| ${n} | ${fmt(med(n, 'bulk1'))} (${ratio(med(n, 'bulk1'), med('direct', 'bulk1'))}) | ${cpu('cpuMb1')} | ${s.pids.length ? fmt(med(n, 'callsMb1')) : '–'} | ` +
        `${fmt(med(n, 'bulk8'))} (${ratio(med(n, 'bulk8'), med('direct', 'bulk8'))}) | ${cpu('cpuMb8')} | ${s.pids.length ? fmt(med(n, 'callsMb8')) : '–'} | ` +
        `${fmt(med(n, 'echoP50'))} (+${fmt(med(n, 'echoP50') - med('direct', 'echoP50'))}; ${each(n, 'echoP50')}) / ${fmt(med(n, 'echoP99'))} | ${s.pids.length ? fmt(med(n, 'cpuEcho')) : '–'} |`,
    );
  }
  out.push('', 'CPU by process (medians; each round in brackets):', '', '| subject | µs/MB 1 stream: ingress | exit | µs/MB 8 streams: ingress | exit | µs/echo: ingress | exit |', '|---|---|---|---|---|---|---|');
  for (const s of subjects.filter((x) => x.pids.length === 2)) {
    const c = (k: string): string => `${fmt(med(s.name, k))} (${each(s.name, k)})`;
    out.push(`| ${s.name} | ${c('cpuMb1_0')} | ${c('cpuMb1_1')} | ${c('cpuMb8_0')} | ${c('cpuMb8_1')} | ${c('cpuEcho_0')} | ${c('cpuEcho_1')} |`);
  }
  process.stdout.write(out.join('\n') + '\n');
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack}\n`);
    process.exitCode = 1;
  })
  .finally(() => process.exit());

/**
 * `npm run bench`: hopgate beside a direct connection and Debian's peer
 * proxies, in one run, on loopback. Each figure is the median of --runs runs;
 * ratios are to direct. Targets, proxies and the load generator are separate
 * processes. Prints a Markdown report (docs/BENCHMARKS.md quotes it).
 *
 *   npm run build && node dist/bench/run.js [--runs 5] [--ms 2000] [--hold 9900] [--quick] [--no-hops] [--only REGEX]
 *
 * `--only`: measure only the subjects whose name matches (direct always), e.g.
 * --only 'hopgate \(1 worker\)$|1 exit|microsocks' for the link comparison of issue 19.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hashPassword } from '../src/shared/auth/password-hash.js';
import type { Job, Via } from './load.js';
import { buildLoadgen, loadgenArgs } from './loadgen.js';
import { cpuUs } from './proc-cpu.js';
import { firstLine, waitPort } from './child-procs.js';
import { linkedIngressYaml, pinnedLink } from './linked-exit.js';
import { loadOrCreateLinkIdentity } from '../src/link/identity.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'src', 'cli', 'main.js');
const { values: opt } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    ms: { type: 'string', default: '2000' },
    hold: { type: 'string', default: '9900' },
    quick: { type: 'boolean', default: false },
    'no-hops': { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const RUNS = opt.quick ? 1 : Number(opt.runs);
const MS = opt.quick ? 500 : Number(opt.ms);
const HOLD = opt.quick ? 1000 : Number(opt.hold);
/** Idle tunnels held before the measured ones: the slope past them is the cost per tunnel, free of one-off heap growth. */
const HOLD_FIRST = opt.quick ? 200 : 1000;
/** One process holds at most 9,900: 2 descriptors per tunnel under the hard `ulimit -n` of 20,000. hopgate with 2 workers holds 10,000. */
const HOLD_WORKERS = opt.quick ? 1000 : 10_000;
const USER = 'bench';
const PASS = 'bench-pass-123';
const work = mkdtempSync(join(tmpdir(), 'hopgate-bench-'));
const children: ChildProcess[] = [];

async function startChild(cmd: string, args: string[]): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  return { child, line: await firstLine(child) };
}

function stopAll(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM'); // only what we started, by PID
}
process.on('exit', stopAll);
// A signal does not run 'exit' handlers: without this, the contenders outlive an interrupted run.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

const loadgen = buildLoadgen(work);

async function load(job: Job): Promise<Record<string, number>> {
  const { line } =
    job.kind === 'setup' && loadgen
      ? await startChild(loadgen, loadgenArgs(job))
      : await startChild(process.execPath, [join(here, 'load.js'), JSON.stringify(job)]);
  return JSON.parse(line);
}

interface Subject {
  name: string;
  via?: Via;
  pid?: number;
  /** Further processes on this subject's path (a chain's exits), for CPU accounting. */
  pids?: number[];
  note?: string;
  /** Idle tunnels to hold for the memory table (absent: not measured). */
  hold?: number;
}

async function startHopgate(port: number, workers: number, sourceAuthPort?: number): Promise<Subject[]> {
  const hash = await hashPassword(PASS, { ln: 14, r: 8, p: 1 });
  const cfg = join(work, `hopgate-${port}.yaml`);
  writeFileSync(
    cfg,
    [
      `listen: { host: 127.0.0.1, ports: [${port}, ${sourceAuthPort ?? port}] }`,
      `workers: ${workers}`,
      `targetPolicy: { allow: [127.0.0.0/8] }`,
      `log: { level: error, access: false }`,
      `users:`,
      `  - { login: ${USER}, passwordHash: '${hash}' }`,
      ...(sourceAuthPort ? [`  - { login: bysource, sources: [127.0.0.0/8], sourceAuth: true }`] : []),
    ].join('\n'),
  );
  const { child } = await startChild(process.execPath, [cli, 'ingress', '--config', cfg, '--workers', String(workers)]);
  await waitPort(port);
  const name = `hopgate (${workers} worker${workers > 1 ? 's' : ''})`;
  const out: Subject[] = [{ name, via: { port, user: USER, pass: PASS }, pid: child.pid!, hold: workers > 1 ? HOLD_WORKERS : HOLD }];
  if (sourceAuthPort) out.push({ name: `${name}, source-IP auth`, via: { port: sourceAuthPort }, pid: child.pid! });
  return out;
}

/** hopgate exits as separate processes, and one ingress routing through 1, 2 or 3 of them by country tag. */
async function startHopChains(base: number): Promise<Subject[]> {
  const secret = 'bench-relay-secret';
  const exits: Array<{ ip: string; port: number; pid: number }> = [];
  // Every exit also takes links (issue 19): identities made here, pinned both ways. The first is
  // reached over a link directly; the chains' last exits over links through the hops before them.
  const linkPort = base + 20;
  const ips = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
  const link = pinnedLink(work, '', `${ips[0]}:${linkPort}`);
  const ingressFp = loadOrCreateLinkIdentity(link.ingressDir, 'bench ingress').fingerprint;
  const exitFps = [link.exitFp];
  for (const [i, ip] of ips.entries()) {
    const port = base + 10 + i;
    let linkArgs = link.exitArgs;
    if (i > 0) {
      const dir = join(work, `exit-link-${i}`);
      exitFps.push(loadOrCreateLinkIdentity(dir, 'bench exit').fingerprint);
      linkArgs = ['--link-listen', `${ip}:${linkPort + i}`, '--link-allow', ingressFp, '--state-dir', dir];
    }
    const child = spawn(process.execPath, [cli, 'exit', '--listen', `${ip}:${port}`, '--egress', ip, '--allow-from', '127.0.0.0/8', '--allow-target', '127.0.0.0/8', ...linkArgs], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, HOPGATE_EXIT_SECRET: secret },
    });
    children.push(child);
    exits.push({ ip, port, pid: child.pid! });
  }
  for (const e of exits) await waitPort(e.port, e.ip, 10_000);
  for (const [i, e] of exits.entries()) await waitPort(linkPort + i, e.ip, 10_000);
  const hop = (e: { ip: string; port: number }) => `{ kind: hopgate, host: ${e.ip}, port: ${e.port}, username: ingress, password: ${secret} }`;
  const [a, b, c] = exits as [typeof exits[0], typeof exits[0], typeof exits[0]];
  const hash = await hashPassword(PASS, { ln: 14, r: 8, p: 1 });
  const cfg = join(work, 'hopgate-hops.yaml');
  writeFileSync(
    cfg,
    linkedIngressYaml({
      port: base,
      user: USER,
      passwordHash: hash,
      exit: { host: a.ip, port: a.port, secret },
      linkPort,
      link,
      moreExits: [
        `{ id: two, kind: hopgate, host: ${b.ip}, port: ${b.port}, username: ingress, password: ${secret}, country: bb, via: [${hop(a)}] }`,
        `{ id: three, kind: hopgate, host: ${c.ip}, port: ${c.port}, username: ingress, password: ${secret}, country: cc, via: [${hop(a)}, ${hop(b)}] }`,
        `{ id: two-link, kind: hopgate, host: ${b.ip}, port: ${b.port}, username: ingress, password: ${secret}, country: bx, via: [${hop(a)}], link: { port: ${linkPort + 1}, fingerprint: '${exitFps[1]}' } }`,
        `{ id: three-link, kind: hopgate, host: ${c.ip}, port: ${c.port}, username: ingress, password: ${secret}, country: cx, via: [${hop(a)}, ${hop(b)}], link: { port: ${linkPort + 2}, fingerprint: '${exitFps[2]}' } }`,
      ],
    }),
  );
  const { child } = await startChild(process.execPath, [cli, 'ingress', '--config', cfg, '--workers', '1']);
  await waitPort(base);
  return [
    { name: 'hopgate → 1 exit', via: { port: base, user: `${USER}-cc-aa`, pass: PASS }, pid: child.pid!, pids: [a.pid], hold: HOLD },
    { name: 'hopgate → 1 exit (link)', via: { port: base, user: `${USER}-cc-ll`, pass: PASS }, pid: child.pid!, pids: [a.pid], hold: HOLD },
    { name: 'hopgate → 2 hops', via: { port: base, user: `${USER}-cc-bb`, pass: PASS }, pid: child.pid!, pids: [a.pid, b.pid] },
    { name: 'hopgate → 3 hops', via: { port: base, user: `${USER}-cc-cc`, pass: PASS }, pid: child.pid!, pids: [a.pid, b.pid, c.pid] },
    { name: 'hopgate → 2 hops (link)', via: { port: base, user: `${USER}-cc-bx`, pass: PASS }, pid: child.pid!, pids: [a.pid, b.pid] },
    { name: 'hopgate → 3 hops (link)', via: { port: base, user: `${USER}-cc-cx`, pass: PASS }, pid: child.pid!, pids: [a.pid, b.pid, c.pid] },
  ];
}

async function startMicrosocks(port: number): Promise<Subject | undefined> {
  if (spawnSync('which', ['microsocks']).status !== 0) return undefined;
  const child = spawn('microsocks', ['-i', '127.0.0.1', '-p', String(port), '-u', USER, '-P', PASS], { stdio: 'ignore' });
  children.push(child);
  await waitPort(port);
  return { name: 'microsocks', via: { port, user: USER, pass: PASS }, pid: child.pid!, hold: HOLD };
}

/** The least a Node.js SOCKS5 relay costs (bench/bare-relay.ts): how much of hopgate's cost is Node's own. */
async function startBareRelay(port: number): Promise<Subject> {
  const { child } = await startChild(process.execPath, [join(here, 'bare-relay.js'), String(port), USER, PASS]);
  return { name: 'node bare relay (no features)', via: { port, user: USER, pass: PASS }, pid: child.pid!, hold: HOLD };
}

/**
 * The least two Node.js processes cost for an ingress → exit leg (issue 19's floor for the link rows):
 * the bare relay in front, bench/bare-back.ts behind it, one TCP or TLS 1.3 connection per tunnel.
 */
async function startBarePair(port: number, tls: boolean): Promise<Subject> {
  const { child: back } = await startChild(process.execPath, [join(here, 'bare-back.js'), String(port + 1), ...(tls ? ['tls'] : [])]);
  const { child } = await startChild(process.execPath, [join(here, 'bare-relay.js'), String(port), USER, PASS, String(port + 1), ...(tls ? ['tls'] : [])]);
  return { name: `node bare pair, ${tls ? "TLS" : "TCP"} per tunnel (no features)`, via: { port, user: USER, pass: PASS }, pid: child.pid!, pids: [back.pid!] };
}

async function startDante(port: number): Promise<Subject | undefined> {
  if (spawnSync('which', ['danted']).status !== 0) return undefined;
  const conf = join(work, 'danted.conf');
  // Dante's username method checks system accounts; the peer runs without auth (noted in the report).
  writeFileSync(
    conf,
    `logoutput: /dev/null\ninternal: 127.0.0.1 port = ${port}\nexternal: 127.0.0.1\nsocksmethod: none\nclientmethod: none\n` +
      `user.privileged: root\nuser.unprivileged: nobody\n` +
      `client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\nsocks pass { from: 127.0.0.0/8 to: 127.0.0.0/8 }\n`,
  );
  const child = spawn('danted', ['-f', conf, '-N', '2'], { stdio: 'ignore' });
  children.push(child);
  await waitPort(port);
  return { name: 'dante (no auth)', via: { port }, pid: child.pid!, note: 'no auth' };
}

/** A peer chain for comparison with hopgate's hops: dante → microsocks (no auth: dante's upstream auth needs system accounts). */
async function startPeerChain(port: number): Promise<Subject | undefined> {
  if (spawnSync('which', ['danted']).status !== 0 || spawnSync('which', ['microsocks']).status !== 0) return undefined;
  const msPort = port + 1;
  const ms = spawn('microsocks', ['-i', '127.0.0.1', '-p', String(msPort)], { stdio: 'ignore' });
  children.push(ms);
  const conf = join(work, 'danted-chain.conf');
  writeFileSync(
    conf,
    `logoutput: /dev/null\ninternal: 127.0.0.1 port = ${port}\nexternal: 127.0.0.1\nsocksmethod: none\nclientmethod: none\n` +
      `user.privileged: root\nuser.unprivileged: nobody\n` +
      `route { from: 0.0.0.0/0 to: 0.0.0.0/0 via: 127.0.0.1 port = ${msPort} proxyprotocol: socks_v5 }\n` +
      `client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\nsocks pass { from: 127.0.0.0/8 to: 127.0.0.0/8 }\n`,
  );
  const child = spawn('danted', ['-f', conf, '-N', '2'], { stdio: 'ignore' });
  children.push(child);
  await waitPort(msPort);
  await waitPort(port);
  return { name: 'dante → microsocks (no auth)', via: { port }, pid: child.pid!, pids: [ms.pid!] };
}

const median = (xs: number[]): number => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};

/** A process and its children (the ingress may be a cluster: primary and workers). */
function tree(pid: number): number[] {
  return [pid, ...spawnSync('pgrep', ['-P', String(pid)]).stdout.toString().split('\n').filter(Boolean).map(Number)];
}

/** CPU time (user + system) of the subject's processes, in µs. */
function subjectCpuUs(s: Subject): number {
  return cpuUs([...(s.pid ? tree(s.pid) : []), ...(s.pids ?? [])]);
}

/** Open `count` idle tunnels through `s` in a load process; they stay open until release(). */
async function holdTunnels(s: Subject, echo: number[], count: number): Promise<{ open: number; release(): Promise<void> }> {
  const { child, line } = await startChild(process.execPath, [join(here, 'load.js'), JSON.stringify({ kind: 'hold', via: s.via, echo, count })]);
  const open = (JSON.parse(line) as { open: number }).open;
  await new Promise((r) => setTimeout(r, 500));
  return {
    open,
    release: async () => {
      child.stdin!.end();
      await new Promise((r) => child.once('exit', r));
    },
  };
}

function rssKiB(pid: number): number {
  let total = 0;
  for (const p of tree(pid)) {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
    total += m ? Number(m[1]) : 0;
  }
  return total;
}

async function main(): Promise<void> {
  const { line } = await startChild(process.execPath, [join(here, 'target.js')]);
  const t = JSON.parse(line) as { echo: number[]; source: number };
  const base = 21000 + Math.floor(Math.random() * 2000) * 4;
  const subjects: Subject[] = [{ name: 'direct' }];
  subjects.push(...(await startHopgate(base, 1, base + 1)));
  subjects.push(...(await startHopgate(base + 2, 2)));
  if (!opt['no-hops']) subjects.push(...(await startHopChains(base + 5)));
  subjects.push(await startBareRelay(base + 4 + 4020));
  subjects.push(await startBarePair(base + 4 + 4030, false), await startBarePair(base + 4 + 4040, true));
  const ms = await startMicrosocks(base + 3);
  if (ms) subjects.push(ms);
  const dante = await startDante(base + 4 + 4000);
  if (dante) subjects.push(dante);
  const chain = opt['no-hops'] ? undefined : await startPeerChain(base + 4 + 4010);
  if (chain) subjects.push(chain);
  if (opt.only !== undefined) {
    const only = new RegExp(opt.only);
    for (let i = subjects.length - 1; i > 0; i--) if (!only.test(subjects[i]!.name)) subjects.splice(i, 1);
  }

  // Memory per idle tunnel first, while the proxies are fresh. The first HOLD_FIRST tunnels pay
  // one-off growth (V8's young generation, malloc arenas); the slope past them is what each
  // further idle tunnel costs.
  const idle: string[] = [];
  idle.push('', `Idle tunnels: RSS of the proxy process(es), an exit's included, with ${HOLD_FIRST} open idle tunnels, then with more; per tunnel = the slope between the two (client and target sockets live in other processes).`, '');
  idle.push('| subject | RSS before KiB | with first tunnels KiB | with all tunnels KiB | tunnels | per tunnel |', '|---|---|---|---|---|---|');
  for (const s of subjects.filter((x) => x.hold !== undefined)) {
    const total = s.hold!;
    // Every process of the path: an exit's tunnels cost memory there too (its target sockets, its link streams).
    const rss = (): number => [s.pid!, ...(s.pids ?? [])].reduce((sum, pid) => sum + rssKiB(pid), 0);
    const before = rss();
    const first = await holdTunnels(s, t.echo, HOLD_FIRST);
    const mid = rss();
    const rest = await holdTunnels(s, t.echo, total - HOLD_FIRST);
    const after = rss();
    for (const h of [first, rest]) await h.release();
    idle.push(`| ${s.name} | ${before} | ${mid} | ${after} | ${first.open + rest.open} | ${((after - mid) / rest.open).toFixed(2)} KiB |`);
    await new Promise((r) => setTimeout(r, 1000));
  }

  // Warm-up, untimed: JIT, and each proxy's first password check (hopgate pays scrypt once per credential).
  for (const s of subjects) await load({ kind: 'setup', via: s.via, echo: t.echo, concurrency: 8, ms: 300 });

  type Row = Record<string, number>;
  const results = new Map<string, Row[]>();
  for (let run = 0; run < RUNS; run++) {
    for (const s of subjects) {
      const row: Row = {};
      for (const c of [1, 64, 256]) {
        const cpu0 = subjectCpuUs(s);
        const r = await load({ kind: 'setup', via: s.via, echo: t.echo, concurrency: c, ms: MS });
        row[`setup${c}`] = r.perSec!;
        if (c === 64) {
          row.setup64p50 = r.p50us!;
          row.setup64p99 = r.p99us!;
          row.proxyCpuUs = s.pid ? (subjectCpuUs(s) - cpu0) / Math.max(1, r.count!) : NaN;
          row.genCpuUs = r.genCpuUs!;
        }
        row.errors = (row.errors ?? 0) + r.errors!;
      }
      row.bulk1 = (await load({ kind: 'bulk', via: s.via, source: t.source, streams: 1, ms: MS })).mbPerSec!;
      row.bulk8 = (await load({ kind: 'bulk', via: s.via, source: t.source, streams: 8, ms: MS })).mbPerSec!;
      const l = await load({ kind: 'latency', via: s.via, echo: t.echo, rounds: opt.quick ? 200 : 2000 });
      row.echoP50 = l.p50us!;
      row.echoP99 = l.p99us!;
      results.set(s.name, [...(results.get(s.name) ?? []), row]);
      process.stderr.write(`run ${run + 1}/${RUNS} ${s.name}: ${JSON.stringify(row)}\n`);
    }
  }

  const med = (name: string, key: string): number => median((results.get(name) ?? []).map((r) => r[key]!));
  const d = (key: string): number => med('direct', key);
  const fmt = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
  const ratio = (x: number, ref: number): string => (Number.isFinite(x) && ref ? `${(x / ref).toFixed(2)}×` : 'n/a');
  const out: string[] = [];
  out.push(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}. Medians of ${RUNS} run(s), ${MS} ms each; ratios to direct. Setup generator: ${loadgen ? 'C (bench/loadgen.c)' : 'Node (bench/load.ts; no cc)'}.`, '');
  out.push('| subject | setup/s c=1 | setup/s c=64 | setup/s c=256 | c=64 p50 / p99 µs | c=64 CPU µs per setup: proxy / generator | bulk 1 stream MB/s | bulk 8 streams MB/s | 64 B echo p50 / p99 µs | errors |');
  out.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const s of subjects) {
    const n = s.name;
    out.push(
      `| ${n} | ${fmt(med(n, 'setup1'))} (${ratio(med(n, 'setup1'), d('setup1'))}) | ${fmt(med(n, 'setup64'))} (${ratio(med(n, 'setup64'), d('setup64'))}) | ` +
        `${fmt(med(n, 'setup256'))} (${ratio(med(n, 'setup256'), d('setup256'))}) | ${fmt(med(n, 'setup64p50'))} / ${fmt(med(n, 'setup64p99'))} | ` +
        `${s.pid ? fmt(med(n, 'proxyCpuUs')) : '–'} / ${fmt(med(n, 'genCpuUs'))} | ` +
        `${fmt(med(n, 'bulk1'))} (${ratio(med(n, 'bulk1'), d('bulk1'))}) | ${fmt(med(n, 'bulk8'))} (${ratio(med(n, 'bulk8'), d('bulk8'))}) | ` +
        `${fmt(med(n, 'echoP50'))} (+${fmt(med(n, 'echoP50') - d('echoP50'))}) / ${fmt(med(n, 'echoP99'))} | ${fmt(Math.max(...(results.get(n) ?? []).map((r) => r.errors!)))} |`,
    );
  }

  process.stdout.write([...out, ...idle].join('\n') + '\n');
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    stopAll();
    process.exit();
  });

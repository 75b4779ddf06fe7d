/**
 * Reverse-connected exit beside a forward hopgate exit, a direct connection
 * and a peer proxy (microsocks, one hop, when installed): tunnel setup rate
 * at concurrency 64 and single-stream bulk throughput, medians of --runs runs.
 * Target, ingress, the exits and the load generator are separate processes
 * on loopback; the customer speaks SOCKS5 to one ingress, which routes by
 * country tag to the forward exit over SOCKS5 (aa) or over a link (ll, the same
 * exit process, mutually pinned TLS), the reverse exit over links (bb, issue
 * 19) or the reverse exit of the older work-connection protocol (cc). With
 * --workers 2 the ingress primary hands the reverse exits' connections to its
 * workers. CPU per setup: the ingress's and that subject's exit's CPU time
 * (/proc, both processes) over the setup run, divided by its setups.
 *
 *   npm run build && node dist/bench/reverse.js [--runs 5] [--ms 2000] [--pool 128] [--links 2] [--workers 1]
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hashPassword } from '../src/shared/auth/password-hash.js';
import type { Job, Via } from './load.js';
import { buildLoadgen, loadgenArgs } from './loadgen.js';
import { cpuUs } from './proc-cpu.js';
import { firstLine, waitPort } from './child-procs.js';
import { pinnedLink } from './linked-exit.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'src', 'cli', 'main.js');
const { values: opt } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, ms: { type: 'string', default: '2000' }, pool: { type: 'string', default: '128' }, links: { type: 'string', default: '2' }, workers: { type: 'string', default: '1' } },
});
const RUNS = Number(opt.runs);
const MS = Number(opt.ms);
const USER = 'bench';
const PASS = 'bench-pass-123';
const SECRET = 'bench-relay-secret';
const TOKEN = 'bench-reverse-token';
const work = mkdtempSync(join(tmpdir(), 'hopgate-bench-rev-'));
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM'); // only what we started, by PID
});

async function start(args: string[], env: Record<string, string> = {}): Promise<string> {
  return startBinary(process.execPath, args, env);
}

async function startBinary(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  children.push(child);
  return firstLine(child);
}

const loadgen = buildLoadgen(work);

async function load(job: Job): Promise<Record<string, number>> {
  if (job.kind === 'setup' && loadgen) return JSON.parse(await startBinary(loadgen, loadgenArgs(job)));
  return JSON.parse(await start([join(here, 'load.js'), JSON.stringify(job)]));
}

const lastPid = (): number => children.at(-1)!.pid!;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

async function main(): Promise<void> {
  const t = JSON.parse(await start([join(here, 'target.js')])) as { echo: number[]; source: number };
  const base = 23000 + Math.floor(Math.random() * 1000) * 4;
  const [ingPort, tunnelPort, fwdPort, peerPort] = [base, base + 1, base + 2, base + 3];
  const cert = join(work, 'cert.pem');
  const key = join(work, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=bench', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  // The forward exit also takes links: identities made here, pinned both ways (as bench/run.ts).
  const linkPort = base + 20;
  const link = pinnedLink(work, '', `127.0.0.2:${linkPort}`);
  await start([cli, 'exit', '--listen', `127.0.0.2:${fwdPort}`, '--egress', '127.0.0.2', '--allow-from', '127.0.0.1/32', '--allow-target', '127.0.0.0/8', ...link.exitArgs], { HOPGATE_EXIT_SECRET: SECRET });
  const fwdPid = lastPid();
  const cfg = join(work, 'ingress.yaml');
  writeFileSync(
    cfg,
    [
      `listen: { host: 127.0.0.1, ports: [${ingPort}, ${ingPort}] }`,
      `workers: ${opt.workers}`,
      `targetPolicy: { allow: ['127.0.0.0/8'] }`,
      `log: { level: warn, access: false }`,
      `links: { identityDir: '${link.ingressDir}' }`,
      `limits: { perUserMaxConnections: 100000 }`,
      `users: [{ login: ${USER}, passwordHash: '${await hashPassword(PASS, { ln: 12, r: 8, p: 1 })}' }]`,
      `exits:`,
      `  - { id: fwd, kind: hopgate, host: 127.0.0.2, port: ${fwdPort}, username: ingress, password: ${SECRET}, country: aa }`,
      `  - { id: fwdlink, kind: hopgate, host: 127.0.0.2, port: ${fwdPort}, username: ingress, password: ${SECRET}, country: ll, link: { port: ${linkPort}, fingerprint: '${link.exitFp}' } }`,
      `  - { id: rev, kind: reverse, tokenHash: '${await hashPassword(TOKEN, { ln: 12, r: 8, p: 1 })}', country: bb }`,
      `  - { id: revwork, kind: reverse, tokenHash: '${await hashPassword(TOKEN, { ln: 12, r: 8, p: 1 })}', country: cc }`,
      `reverse: { listen: { host: 127.0.0.1, port: ${tunnelPort} }, tls: { cert: ${cert}, key: ${key} }, waitMs: 10000 }`,
    ].join('\n'),
  );
  await start([cli, 'ingress', '--config', cfg, '--workers', opt.workers]);
  const ingPid = lastPid(); // with --workers > 1 its workers' CPU is not counted (one process is the default)
  await start([cli, 'exit', '--connect-to', `127.0.0.1:${tunnelPort}`, '--id', 'rev', '--ca', cert, '--links', opt.links, '--egress', '127.0.0.3', '--allow-target', '127.0.0.0/8', '--log-level', 'warn'], { HOPGATE_EXIT_TOKEN: TOKEN });
  const revPid = lastPid();
  await start([cli, 'exit', '--connect-to', `127.0.0.1:${tunnelPort}`, '--id', 'revwork', '--ca', cert, '--work-connections', '--pool', opt.pool, '--egress', '127.0.0.4', '--allow-target', '127.0.0.0/8', '--log-level', 'warn'], { HOPGATE_EXIT_TOKEN: TOKEN });
  const revWorkPid = lastPid();
  await waitPort(ingPort);
  await new Promise((r) => setTimeout(r, 500)); // the reverse pool fills

  // The peer: one SOCKS5 hop with a password, no TLS (what a plain proxy costs on this machine).
  const peer = spawnSync('which', ['microsocks']).status === 0;
  if (peer) {
    const child = spawn('microsocks', ['-i', '127.0.0.1', '-p', String(peerPort), '-u', USER, '-P', PASS], { stdio: 'ignore' });
    children.push(child);
    await waitPort(peerPort);
  }
  const subjects: Array<{ name: string; via?: Via; pids?: number[] }> = [
    { name: 'direct' },
    ...(peer ? [{ name: 'microsocks (peer, one hop)', via: { port: peerPort, user: USER, pass: PASS } }] : []),
    { name: 'hopgate → forward exit (SOCKS5)', via: { port: ingPort, user: `${USER}-cc-aa`, pass: PASS }, pids: [ingPid, fwdPid] },
    { name: 'hopgate → forward exit (link)', via: { port: ingPort, user: `${USER}-cc-ll`, pass: PASS }, pids: [ingPid, fwdPid] },
    { name: `hopgate → reverse exit, ${opt.links} links`, via: { port: ingPort, user: `${USER}-cc-bb`, pass: PASS }, pids: [ingPid, revPid] },
    { name: `hopgate → reverse exit, work connections (pool ${opt.pool})`, via: { port: ingPort, user: `${USER}-cc-cc`, pass: PASS }, pids: [ingPid, revWorkPid] },
  ];
  for (const s of subjects) await load({ kind: 'setup', via: s.via, echo: t.echo, concurrency: 8, ms: 300 }); // warm-up
  const rows = new Map<string, Array<Record<string, number>>>();
  for (let run = 0; run < RUNS; run++) {
    for (const s of subjects) {
      const cpu0 = cpuUs(s.pids ?? []);
      const setup = await load({ kind: 'setup', via: s.via, echo: t.echo, concurrency: 64, ms: MS });
      const cpu = cpuUs(s.pids ?? []) - cpu0;
      const setups = setup.count ?? setup.perSec! * (MS / 1000);
      const bulk = await load({ kind: 'bulk', via: s.via, source: t.source, streams: 1, ms: MS });
      const lat = await load({ kind: 'latency', via: s.via, echo: t.echo, rounds: 2000 });
      const row = { setup64: setup.perSec!, cpuUs: s.pids && setups > 0 ? cpu / setups : 0, p50: setup.p50us!, p99: setup.p99us!, errors: setup.errors!, bulk1: bulk.mbPerSec!, echoP50: lat.p50us! };
      rows.set(s.name, [...(rows.get(s.name) ?? []), row]);
      process.stderr.write(`run ${run + 1}/${RUNS} ${s.name}: ${JSON.stringify(row)}\n`);
    }
  }
  const out = [
    `node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), medians of ${RUNS} runs of ${MS} ms, reverse links ${opt.links} / pool ${opt.pool}, ingress workers ${opt.workers}, setup generator ${loadgen ? 'C (bench/loadgen.c)' : 'Node (bench/load.ts)'}`,
    '',
    '| path | setups/s at c=64 | CPU µs per setup (ingress + exit) | setup p50 / p99 ms | 1-stream bulk MB/s | echo RTT p50 µs | errors |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const [name, rs] of rows) {
    const m = (k: string): number => median(rs.map((r) => r[k]!));
    out.push(`| ${name} | ${m('setup64').toFixed(0)} | ${m('cpuUs') > 0 ? m('cpuUs').toFixed(0) : '–'} | ${(m('p50') / 1000).toFixed(2)} / ${(m('p99') / 1000).toFixed(2)} | ${m('bulk1').toFixed(0)} | ${m('echoP50').toFixed(0)} | ${rs.reduce((a, r) => a + r.errors!, 0)} |`);
  }
  process.stdout.write(out.join('\n') + '\n');
  process.exit(0);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);

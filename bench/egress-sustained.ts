/**
 * Can an exit that binds ONE egress address open 2,000 new target connections
 * a second for 60 s, closing first (so every connection leaves a TIME_WAIT on
 * the exit's side), to ONE target ip:port — the worst case for the 4-tuple?
 * And what does that do to other software on the exit's host?
 *
 * Loopback would flatter the answer (Linux's default tcp_tw_reuse=2 reuses
 * TIME_WAIT only for loopback), so this builds two network namespaces joined
 * by a veth pair: the exit's host (egress 10.210.N.1x, exit listening on
 * 10.210.N.10) and the far side (target 10.210.N.2:9000, and the load
 * generator playing the ingress from 10.210.N.3). Root is required. Each case
 * gets a fresh egress address so TIME_WAIT from one case never burdens the next.
 *
 *   npm run build && sudo node dist/bench/egress-sustained.js [--rate 2000] [--seconds 60] [--cases naive,own,exit,exit-ports]
 *
 * Cases (open-loop at the given rate, at most 4,000 in flight):
 *   naive       net.connect({localAddress}) on the exit's host — bind(addr, 0), the kernel searches a port
 *   own         connectTcp: a random port of the range, a taken one retried (what hopgate does)
 *   exit        a real `hopgate exit --egress …`, driven over SOCKS5 from the far side
 *   exit-ports  the same with `--egress-ports 45000-60999` and those ports reserved
 *               (net.ipv4.ip_local_reserved_ports) in the exit's namespace
 * A "-reuse" suffix sets net.ipv4.tcp_tw_reuse=1 in the exit's namespace (default 2:
 * loopback only). During the exit cases a neighbour on the exit's host opens 50
 * ordinary (unbound) connections a second to the target: the collateral damage.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connectTcp } from '../src/shared/net/connect-tcp.js';

const SELF = fileURLToPath(import.meta.url);
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const SECRET = 'bench-egress-secret';
const MAX_IN_FLIGHT = 4000;

interface Case {
  how: 'naive' | 'own' | 'exit' | 'neighbour';
  /** Source address: the egress (naive, own), the load generator's (exit); none for the neighbour. */
  from?: string;
  target: string;
  port: number;
  rate: number;
  seconds: number;
  /** The exit's SOCKS5 address (exit). */
  exitHost?: string;
  exitPort?: number;
}

interface CaseResult {
  opened: number;
  errors: Record<string, number>;
  slow: number;
  p50ms: number;
  p99ms: number;
  maxInFlight: number;
  perWindow: number[];
}

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]! : NaN;
}

/** One connection that the exit side closes first, by the case's method. */
async function once(c: Case): Promise<void> {
  if (c.how === 'own') {
    (await connectTcp(c.target, c.port, 5000, { localAddress: c.from })).destroy();
    return;
  }
  if (c.how === 'naive' || c.how === 'neighbour') {
    await new Promise<void>((resolve, reject) => {
      const s = connect({ host: c.target, port: c.port, localAddress: c.from });
      const timer = setTimeout(() => { s.destroy(); reject(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })); }, 5000);
      s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve(); });
      s.once('error', (e) => { clearTimeout(timer); reject(e); });
    });
    return;
  }
  // Through the exit: SOCKS5 with the relay secret, CONNECT by IPv4, then close. The exit then
  // ends its target connection first, as it does when a client goes away. The generator binds
  // its own ports too, so that its side of the 4-tuple is never what runs out.
  const s = await connectTcp(c.exitHost!, c.exitPort!, 5000, { localAddress: c.from });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { s.destroy(); reject(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })); }, 5000);
    const fail = (code: string): void => { clearTimeout(timer); s.destroy(); reject(Object.assign(new Error(code), { code })); };
    const u = Buffer.from('ingress');
    const p = Buffer.from(SECRET);
    const ip = c.target.split('.').map(Number);
    // Pipelined: greeting, credentials and CONNECT in one write (the exit is hopgate's own).
    s.write(Buffer.concat([
      Buffer.from([5, 1, 2]),
      Buffer.from([1, u.length]), u, Buffer.from([p.length]), p,
      Buffer.from([5, 1, 0, 1, ...ip, c.port >> 8, c.port & 255]),
    ]));
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 + 2 + 10) return;
      if (buf[1] !== 2 || buf[3] !== 0) return fail('SOCKS_AUTH');
      if (buf[5] !== 0) return fail(`REP_${buf[5]}`);
      clearTimeout(timer);
      s.destroy();
      resolve();
    });
    s.once('error', (e: NodeJS.ErrnoException) => fail(e.code ?? 'ERROR'));
    s.once('close', () => fail('CLOSED'));
  });
}

/** Open-loop: start rate/200 connections every 5 ms for the duration; bounded in count, time and in-flight. */
async function runCase(c: Case): Promise<CaseResult> {
  const lat: number[] = [];
  const errors: Record<string, number> = {};
  const perWindow: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let slow = 0;
  let started = 0;
  const t0 = performance.now();
  const endAt = t0 + c.seconds * 1000;
  const total = c.rate * c.seconds;
  await new Promise<void>((done) => {
    const tick = setInterval(() => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - t0) / 1000) * c.rate));
      while (started < due && now < endAt) {
        if (inFlight >= MAX_IN_FLIGHT) { errors['IN_FLIGHT_CAP'] = (errors['IN_FLIGHT_CAP'] ?? 0) + 1; started++; continue; }
        started++;
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const t = performance.now();
        once(c).then(
          () => {
            const ms = performance.now() - t;
            lat.push(ms);
            if (ms > 100) slow++;
            const w = Math.min(Math.floor((performance.now() - t0) / 10_000), Math.ceil(c.seconds / 10) - 1);
            perWindow[w] = (perWindow[w] ?? 0) + 1;
          },
          (e: NodeJS.ErrnoException) => { errors[e.code ?? e.message] = (errors[e.code ?? e.message] ?? 0) + 1; },
        ).finally(() => inFlight--);
      }
      if (now >= endAt + 6000 || (now >= endAt && inFlight === 0)) { clearInterval(tick); done(); }
    }, 5);
  });
  lat.sort((a, b) => a - b);
  return { opened: lat.length, errors, slow, p50ms: pct(lat, 50), p99ms: pct(lat, 99), maxInFlight, perWindow: Array.from(perWindow, (n, w) => (n ?? 0) / Math.min(10, c.seconds - w * 10)) };
}

// ---------------------------------------------------------------------------------------------
// Roles: --serve (the target, in its namespace), --case (one measurement, in the exit's namespace),
// or the orchestrator (no role: builds the namespaces and runs every case).

const { values } = parseArgs({
  options: {
    serve: { type: 'string' },
    case: { type: 'string' },
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '60' },
    cases: { type: 'string', default: 'naive,own,exit,exit-ports' },
  },
});

if (values.serve) {
  const [host, port] = values.serve.split(':');
  // The target never closes first: it answers the exit's FIN with its own.
  const server = createServer({ allowHalfOpen: true }, (s: Socket) => {
    s.on('error', () => undefined);
    s.on('end', () => s.end());
    s.resume();
  });
  server.listen({ host, port: Number(port), backlog: 8192 }, () => process.stdout.write('ready\n'));
  process.on('SIGTERM', () => process.exit(0));
} else if (values.case) {
  const r = await runCase(JSON.parse(values.case) as Case);
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
} else {
  await orchestrate(Number(values.rate), Number(values.seconds), values.cases.split(','));
  process.exit(0); // the 'exit' handler stops the target and removes the namespaces
}

async function orchestrate(rate: number, seconds: number, cases: string[]): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root: it builds two network namespaces (ip netns, veth)');
  const n = 100 + (process.pid % 150);
  const tag = `hge${process.pid % 100000}`;
  const nsExit = `${tag}-x`;
  const nsFar = `${tag}-t`;
  const target = `10.210.${n}.2`;
  const generator = `10.210.${n}.3`;
  const exitHost = `10.210.${n}.10`;
  const children: ChildProcess[] = [];
  const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20 });
  const cleanup = (): void => {
    for (const c of children) if (c.exitCode === null && c.pid) try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
    for (const ns of [nsExit, nsFar]) spawnSync('ip', ['netns', 'del', ns]);
  };
  process.once('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
  const ready = (child: ChildProcess, what: RegExp): Promise<void> =>
    new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`not ready: ${out}`)), 15_000);
      child.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (what.test(out)) { clearTimeout(timer); resolve(); } });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
  // Fresh namespaces for every case: bound ports and TIME_WAIT are per namespace, and one
  // case's leftovers would burden the next (the kernel's port buckets are per port, not per address).
  const build = async (): Promise<void> => {
    cleanup();
    children.length = 0;
    sh('ip', ['netns', 'add', nsExit]);
    sh('ip', ['netns', 'add', nsFar]);
    sh('ip', ['link', 'add', `${tag}x`, 'type', 'veth', 'peer', 'name', `${tag}t`]);
    sh('ip', ['link', 'set', `${tag}x`, 'netns', nsExit]);
    sh('ip', ['link', 'set', `${tag}t`, 'netns', nsFar]);
    for (const addr of [target, generator]) sh('ip', ['-n', nsFar, 'addr', 'add', `${addr}/24`, 'dev', `${tag}t`]);
    sh('ip', ['-n', nsExit, 'addr', 'add', `${exitHost}/24`, 'dev', `${tag}x`]);
    for (const [ns, dev] of [[nsExit, `${tag}x`], [nsFar, `${tag}t`], [nsExit, 'lo'], [nsFar, 'lo']] as const) sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    const server = spawn('ip', ['netns', 'exec', nsFar, process.execPath, SELF, '--serve', `${target}:9000`], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(server);
    await ready(server, /ready/);
  };
  const sysctl = (ns: string, key: string): string => sh('ip', ['netns', 'exec', ns, 'sysctl', '-n', key]).trim();
  /** One measurement in a namespace, in its own process. */
  const measure = (ns: string, c: Case): Promise<CaseResult> =>
    new Promise((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, SELF, '--case', JSON.stringify(c)], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as CaseResult) : reject(new Error(`case exited ${code}`))));
    });
  await build();
  const range = sysctl(nsExit, 'net.ipv4.ip_local_port_range').replace(/\s+/, '–');
  console.log(`egress: fresh namespaces and one address per case, one target ${target}:9000 across a veth pair; ${rate}/s for ${seconds} s; ` +
    `exit's namespace: ip_local_port_range ${range}, tcp_fin_timeout ${sysctl(nsExit, 'net.ipv4.tcp_fin_timeout')} s, ` +
    `tcp_timestamps ${sysctl(nsExit, 'net.ipv4.tcp_timestamps')}, tcp_max_tw_buckets ${sysctl(nsExit, 'net.ipv4.tcp_max_tw_buckets')}`);
  console.log('');
  console.log('| case | opened/s (10 s windows) | opened | errors | over 100 ms | p50 / p99 ms | TIME_WAIT on egress after | neighbour: opened / failed / over 100 ms |');
  console.log('|---|---|---|---|---|---|---|---|');
  const fmtErrors = (e: Record<string, number>): string => Object.entries(e).map(([k, v]) => `${k === 'IN_FLIGHT_CAP' ? 'not started (4,000 in flight)' : k} ${v}`).join(', ') || '0';
  for (const [i, name] of cases.entries()) {
    const reuse = name.endsWith('-reuse') ? '1' : '2';
    const kind = name.replace(/-reuse$/, '');
    if (i > 0) await build();
    const egress = `10.210.${n}.${11 + i}`;
    sh('ip', ['-n', nsExit, 'addr', 'add', `${egress}/24`, 'dev', `${tag}x`]);
    sh('ip', ['netns', 'exec', nsExit, 'sysctl', '-q', '-w', `net.ipv4.tcp_tw_reuse=${reuse}`]);
    const ownPorts = kind === 'exit-ports';
    sh('ip', ['netns', 'exec', nsExit, 'sysctl', '-q', '-w', `net.ipv4.ip_local_reserved_ports=${ownPorts ? '45000-60999' : ''}`]);
    const base = { target, port: 9000, rate, seconds };
    let result: CaseResult;
    let neighbour: CaseResult | undefined;
    if (kind === 'naive' || kind === 'own') {
      result = await measure(nsExit, { ...base, how: kind, from: egress });
    } else {
      const exitPort = 7001 + i;
      const exit = spawn('ip', ['netns', 'exec', nsExit, process.execPath, CLI, 'exit', '--listen', `${exitHost}:${exitPort}`, '--egress', egress,
        ...(ownPorts ? ['--egress-ports', '45000-60999'] : []), '--allow-from', `${generator}/32`, '--allow-target', '10.0.0.0/8'],
        { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, HOPGATE_EXIT_SECRET: SECRET } });
      children.push(exit);
      await ready(exit, /"ready":true/);
      [result, neighbour] = await Promise.all([
        measure(nsFar, { ...base, how: 'exit', from: generator, exitHost, exitPort }),
        measure(nsExit, { ...base, how: 'neighbour', rate: 50 }),
      ]);
      process.kill(exit.pid!, 'SIGTERM');
      await new Promise((r) => exit.once('exit', r));
    }
    const tw = sh('ip', ['netns', 'exec', nsExit, 'ss', '-Htan', 'state', 'time-wait', 'src', egress]).split('\n').filter(Boolean).length;
    const nb = neighbour ? `${neighbour.opened} / ${Object.values(neighbour.errors).reduce((a, b) => a + b, 0)} / ${neighbour.slow}` : '–';
    console.log(`| ${name}${reuse === '1' ? ' (tcp_tw_reuse=1)' : ''} | ${result.perWindow.map((x) => Math.round(x)).join(' ')} | ${result.opened} | ${fmtErrors(result.errors)} | ${result.slow} | ${result.p50ms.toFixed(2)} / ${result.p99ms.toFixed(2)} | ${tw} | ${nb} |`);
  }
}

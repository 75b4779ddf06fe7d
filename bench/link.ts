/**
 * The ingress→exit leg alone, three ways side by side in one run (issue 19):
 * plain TCP connect/accept per tunnel (today, without the SOCKS handshake),
 * mutually authenticated TLS per tunnel (today's reverse exit, with session
 * resumption), and a link: streams on one mTLS connection
 * (src/link/session.ts). Client here, servers in a child process; loopback.
 * (The node:http2 candidate it was compared with is gone: docs/BENCHMARKS.md,
 * "Links: candidates".)
 *
 * Per mode and run: tunnels/s at concurrency 64 (open + 1-byte echo + close)
 * with CPU µs per tunnel in each process (process.cpuUsage(), user+system),
 * bulk MiB/s with 1 and with 8 streams, 64 B echo latency (median, p99) and
 * CPU µs per echo in each process, and
 * memory per idle stream with --idle streams open (RSS and heap deltas after
 * a GC, each process). Medians over --runs runs; the mode order rotates.
 *
 *   npm run build && node --expose-gc dist/bench/link.js [--runs 3] [--ms 2000] [--idle 10000] [--idle-conns 1000] [--bulk-mib 128] [--modes tcp,tls,link] [--phases rate,bulk,echo,idle] [--echo-gap MS]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { connect as netConnect, createServer as netServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLinkIdentity, dialLinkTls, linkTlsServer, type LinkIdentity } from '../src/link/identity.js';
import { LinkSession } from '../src/link/session.js';

const WINDOW = 256 * 1024;
const MAX_STREAMS = 16_384;
const ECHO = 1;
const SINK = 2;
const MODES = ['tcp', 'tls', 'link'] as const;
type ModeName = (typeof MODES)[number];

interface Ports {
  tcpEcho: number;
  tcpSink: number;
  tlsEcho: number;
  tlsSink: number;
  link: number;
}
interface Stats {
  cpuUs: number;
  rss: number;
  heap: number;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
/** user + system µs so far, without the GC stats() forces (a phase of small messages would pay for it). */
function cpuNow(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}
function stats(): Stats {
  gc();
  gc();
  const c = process.cpuUsage();
  const m = process.memoryUsage();
  return { cpuUs: c.user + c.system, rss: m.rss, heap: m.heapUsed };
}

// ---------------------------------------------------------------- server side

function echoOrSink(s: Duplex, kind: number): void {
  s.on('error', () => undefined);
  if (kind === ECHO) {
    s.pipe(s);
    return;
  }
  s.on('data', () => undefined);
  s.on('end', () => s.end('k'));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

async function serve(serverId: LinkIdentity, clientFp: string): Promise<void> {
  const pins = { identity: serverId, pinned: [clientFp] };
  const tcpEcho = netServer((s) => (s.setNoDelay(true), echoOrSink(s, ECHO)));
  const tcpSink = netServer((s) => (s.setNoDelay(true), echoOrSink(s, SINK)));
  const tlsEcho = linkTlsServer(pins, (s) => (s.setNoDelay(true), echoOrSink(s, ECHO)));
  const tlsSink = linkTlsServer(pins, (s) => (s.setNoDelay(true), echoOrSink(s, SINK)));
  const link = linkTlsServer(pins, (sock) => {
    const session = new LinkSession(sock, { dialled: false, window: WINDOW, maxStreams: MAX_STREAMS, name: 'bench' });
    session.on('stream', (s, req) => {
      s.accept();
      echoOrSink(s, req.port);
    });
    session.on('close', () => undefined);
  });
  const ports: Ports = {
    tcpEcho: await listen(tcpEcho),
    tcpSink: await listen(tcpSink),
    tlsEcho: await listen(tlsEcho),
    tlsSink: await listen(tlsSink),
    link: await listen(link),
  };
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'stats') process.send!({ stats: stats() });
    if (m.cmd === 'cpu') process.send!({ cpu: cpuNow() });
    if (m.cmd === 'exit') process.exit(0);
  });
  process.send!({ ports });
}

// ---------------------------------------------------------------- client side

interface Mode {
  setup(): Promise<void>;
  open(kind: number): Promise<Duplex>;
  teardown(): void;
}

function makeMode(name: ModeName, ports: Ports, id: LinkIdentity, serverFp: string): Mode {
  const pinned = [serverFp];
  switch (name) {
    case 'tcp':
      return {
        setup: async () => undefined,
        open: (kind) =>
          new Promise((resolve, reject) => {
            const s: Socket = netConnect({ host: '127.0.0.1', port: kind === ECHO ? ports.tcpEcho : ports.tcpSink, noDelay: true });
            s.once('connect', () => resolve(s));
            s.once('error', reject);
          }),
        teardown: () => undefined,
      };
    case 'tls': {
      let ticket: Buffer | undefined;
      return {
        setup: async () => undefined,
        open: (kind) =>
          new Promise((resolve, reject) => {
            const s: TLSSocket = tlsConnect({
              host: '127.0.0.1',
              port: kind === ECHO ? ports.tlsEcho : ports.tlsSink,
              key: id.key,
              cert: id.cert,
              rejectUnauthorized: false,
              minVersion: 'TLSv1.3',
              session: ticket,
            });
            s.on('session', (t: Buffer) => (ticket = t));
            s.once('secureConnect', () => {
              if (!s.isSessionReused() && s.getPeerCertificate().fingerprint256 !== serverFp) return reject(new Error('bad pin'));
              s.setNoDelay(true);
              resolve(s);
            });
            s.once('error', reject);
          }),
        teardown: () => undefined,
      };
    }
    case 'link': {
      let session: LinkSession | undefined;
      return {
        setup: async () => {
          const sock = await dialLinkTls({ host: '127.0.0.1', port: ports.link, identity: id, pinned });
          session = new LinkSession(sock, { dialled: true, window: WINDOW, maxStreams: MAX_STREAMS, name: 'bench' });
          session.on('close', () => undefined);
        },
        open: (kind) => session!.open('127.0.0.1', kind),
        teardown: () => session?.destroy(),
      };
    }
  }
}

let child: ChildProcess;
function childStats(): Promise<Stats> {
  return new Promise((resolve) => {
    const on = (m: { stats?: Stats }): void => {
      if (!m.stats) return;
      child.off('message', on);
      resolve(m.stats);
    };
    child.on('message', on);
    child.send({ cmd: 'stats' });
  });
}

function childCpu(): Promise<number> {
  return new Promise((resolve) => {
    const on = (m: { cpu?: number }): void => {
      if (m.cpu === undefined) return;
      child.off('message', on);
      resolve(m.cpu);
    };
    child.on('message', on);
    child.send({ cmd: 'cpu' });
  });
}

function closed(s: Duplex): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve();
    s.once('close', () => resolve());
  });
}

/** open + 1-byte echo + close. */
async function tunnel(mode: Mode): Promise<void> {
  const s = await mode.open(ECHO);
  s.on('error', () => undefined);
  const echoed = new Promise<void>((resolve) => s.once('data', () => resolve()));
  s.on('data', () => undefined);
  s.write(Buffer.from('x'));
  await echoed;
  s.end();
  await closed(s);
}

async function setupRate(mode: Mode, ms: number): Promise<{ perS: number; clientUs: number; serverUs: number; errors: number }> {
  const c0 = stats();
  const s0 = await childStats();
  const t0 = performance.now();
  let done = 0;
  let errors = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() - t0 < ms && errors < 1000) {
      try {
        await tunnel(mode);
        done++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  const elapsed = performance.now() - t0;
  const c1 = stats();
  const s1 = await childStats();
  return { perS: (done * 1000) / elapsed, clientUs: (c1.cpuUs - c0.cpuUs) / done, serverUs: (s1.cpuUs - s0.cpuUs) / done, errors };
}

/** MiB/s client → server, and CPU µs per MiB of both processes together (load-independent, unlike the rate). */
async function bulk(mode: Mode, streams: number, totalMiB: number): Promise<{ mibS: number; usPerMiB: number }> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const perStream = Math.ceil((totalMiB * 1024 * 1024) / streams / chunk.length);
  const c0 = stats();
  const s0 = await childStats();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: streams }, async () => {
      const s = await mode.open(SINK);
      const reply = new Promise<void>((resolve, reject) => {
        s.once('data', () => resolve());
        s.once('error', reject);
      });
      for (let i = 0; i < perStream; i++) {
        if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
      }
      s.end();
      await reply;
      s.destroy();
    }),
  );
  const elapsed = performance.now() - t0;
  const mib = (perStream * streams * chunk.length) / 1024 / 1024;
  const c1 = stats();
  const s1 = await childStats();
  return { mibS: mib / (elapsed / 1000), usPerMiB: (c1.cpuUs - c0.cpuUs + s1.cpuUs - s0.cpuUs) / mib };
}

async function echoLatency(mode: Mode, ms: number, gapMs: number): Promise<{ p50: number; p99: number; echoClientUs: number; echoServerUs: number }> {
  const s = await mode.open(ECHO);
  const msg = Buffer.alloc(64, 0x62);
  const samples: number[] = [];
  const s0 = await childCpu();
  const c0 = cpuNow();
  const t0 = performance.now();
  while (performance.now() - t0 < ms && samples.length < 20_000) {
    const start = process.hrtime.bigint();
    let got = 0;
    await new Promise<void>((resolve) => {
      const on = (d: Buffer): void => {
        got += d.length;
        if (got >= msg.length) {
          s.off('data', on);
          resolve();
        }
      };
      s.on('data', on);
      s.write(msg);
    });
    samples.push(Number(process.hrtime.bigint() - start) / 1000);
    // A pause between echoes: each process sleeps and wakes per message, its caches cooled by others, as on a proxy's path.
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
  }
  // CPU per echo, each side: what a message costs a process, which a loaded machine inflates less than the latency.
  const c1 = cpuNow();
  const s1 = await childCpu();
  s.destroy();
  samples.sort((a, b) => a - b);
  const n = Math.max(1, samples.length);
  return { p50: samples[Math.floor(samples.length / 2)]!, p99: samples[Math.floor(samples.length * 0.99)]!, echoClientUs: (c1 - c0) / n, echoServerUs: (s1 - s0) / n };
}

async function idleMemory(mode: Mode, n: number): Promise<{ clientRss: number; clientHeap: number; serverRss: number; serverHeap: number }> {
  const c0 = stats();
  const s0 = await childStats();
  const open: Duplex[] = [];
  let next = 0;
  const deadline = performance.now() + 60_000;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < n && performance.now() < deadline) {
        next++;
        const s = await mode.open(ECHO);
        s.on('error', () => undefined);
        open.push(s);
      }
    }),
  );
  await new Promise((r) => setTimeout(r, 300));
  const c1 = stats();
  const s1 = await childStats();
  const k = open.length;
  for (const s of open) s.destroy();
  await new Promise((r) => setTimeout(r, 500));
  return { clientRss: (c1.rss - c0.rss) / k, clientHeap: (c1.heap - c0.heap) / k, serverRss: (s1.rss - s0.rss) / k, serverHeap: (s1.heap - s0.heap) / k };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main(): Promise<void> {
  const { values: opt } = parseArgs({
    options: { runs: { type: 'string', default: '3' }, ms: { type: 'string', default: '2000' }, idle: { type: 'string', default: '10000' }, 'idle-conns': { type: 'string', default: '1000' }, 'bulk-mib': { type: 'string', default: '128' }, modes: { type: 'string', default: MODES.join(',') }, phases: { type: 'string', default: 'rate,bulk,echo,idle' }, 'echo-gap': { type: 'string', default: '0' }, server: { type: 'boolean', default: false } },
  });
  if (opt.server) {
    const ids = JSON.parse(process.env.HOPGATE_BENCH_IDS!) as { server: LinkIdentity; clientFp: string };
    return serve(ids.server, ids.clientFp);
  }
  if (!(globalThis as { gc?: unknown }).gc) throw new Error('run with node --expose-gc');
  const runs = Math.min(Number(opt.runs), 9);
  const ms = Math.min(Number(opt.ms), 10_000);
  const idle = Math.min(Number(opt.idle), 15_000);
  // One connection per tunnel: a TLS handshake each makes 10,000 take minutes on a loaded machine; per-connection cost is linear.
  const idleConns = Math.min(Number(opt['idle-conns']), 15_000);
  const bulkMiB = Math.min(Number(opt['bulk-mib']), 1024);
  const modes = opt.modes.split(',').filter((m): m is ModeName => (MODES as readonly string[]).includes(m));
  const phases = new Set(opt.phases.split(','));
  const clientId = createLinkIdentity('bench ingress');
  const serverId = createLinkIdentity('bench exit');
  child = fork(fileURLToPath(import.meta.url), ['--server'], {
    execArgv: [...new Set(['--expose-gc', ...process.execArgv])], // --cpu-prof given to the bench profiles the server too
    env: { ...process.env, HOPGATE_BENCH_IDS: JSON.stringify({ server: serverId, clientFp: clientId.fingerprint }) },
  });
  process.on('exit', () => child.exitCode === null && child.kill('SIGTERM')); // only the child we started
  const ports = await new Promise<Ports>((resolve) => child.once('message', (m: { ports: Ports }) => resolve(m.ports)));

  type Row = Record<string, number>;
  const rows: Record<ModeName, Row[]> = { tcp: [], tls: [], link: [] };
  const loads: number[][] = [];
  for (let r = 0; r < runs; r++) {
    loads.push(loadavg());
    const order = modes.map((_, i) => modes[(i + r) % modes.length]!);
    for (const name of order) {
      const mode = makeMode(name, ports, clientId, serverId.fingerprint);
      await mode.setup();
      const row: Row = {};
      if (phases.has('rate')) Object.assign(row, await setupRate(mode, ms));
      if (phases.has('bulk')) {
        const b1 = await bulk(mode, 1, bulkMiB);
        const b8 = await bulk(mode, 8, bulkMiB);
        Object.assign(row, { bulk1: b1.mibS, bulk1UsMiB: b1.usPerMiB, bulk8: b8.mibS, bulk8UsMiB: b8.usPerMiB });
      }
      if (phases.has('echo')) Object.assign(row, await echoLatency(mode, ms, Number(opt['echo-gap'])));
      if (phases.has('idle')) Object.assign(row, await idleMemory(mode, name === 'tcp' || name === 'tls' ? idleConns : idle));
      mode.teardown();
      rows[name].push(row);
      process.stderr.write(`run ${r + 1} ${name}: ${JSON.stringify(Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Math.round(v)])))}\n`);
      await new Promise((res) => setTimeout(res, 500));
    }
  }
  child.send({ cmd: 'exit' });
  const f = (x: number, d = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(`load average at the start of each run: ${loads.map((l) => l.map((x) => x.toFixed(2)).join(' ')).join(' | ')}`);
  console.log(`medians of ${runs} runs; ${ms} ms per rate phase; ${bulkMiB} MiB per bulk phase; ${idle} idle streams on one link (${idleConns} idle connections for tcp and tls); CPU = process.cpuUsage() user+system per process`);
  console.log('| mode | tunnels/s c=64 | CPU µs/tunnel client | server | both | bulk 1 stream MiB/s | bulk 8 streams MiB/s | 64 B echo p50 µs | p99 µs | CPU µs/echo client | server | idle RSS B/stream client | server | idle heap B/stream client | server |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const name of modes) {
    const m = (k: string): number => median(rows[name].map((r) => r[k] ?? NaN));
    console.log(
      `| ${name} | ${f(m('perS'))} | ${f(m('clientUs'))} | ${f(m('serverUs'))} | ${f(m('clientUs') + m('serverUs'))} | ${f(m('bulk1'))} | ${f(m('bulk8'))} | ${f(m('p50'))} | ${f(m('p99'))} | ${f(m('echoClientUs'))} | ${f(m('echoServerUs'))} | ${f(m('clientRss'))} | ${f(m('serverRss'))} | ${f(m('clientHeap'))} | ${f(m('serverHeap'))} |`,
    );
  }
  console.log('| mode | bulk 1 stream CPU µs/MiB (both processes) | bulk 8 streams CPU µs/MiB |');
  console.log('|---|---|---|');
  for (const name of modes) {
    const m = (k: string): number => median(rows[name].map((r) => r[k] ?? NaN));
    console.log(`| ${name} | ${f(m('bulk1UsMiB'))} | ${f(m('bulk8UsMiB'))} |`);
  }
  const errs = modes.map((n) => rows[n].reduce((a, r) => a + (r.errors ?? 0), 0));
  console.log(`tunnel errors: ${modes.map((n, i) => `${n} ${errs[i]}`).join(', ')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

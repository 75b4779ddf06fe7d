/**
 * Load generator, one measurement per run, in its own process. Speaks SOCKS5
 * (RFC 1928/1929) itself so the client's cost is the same for every proxy.
 * Input: one JSON argument (see Job). Output: one JSON line.
 */
import { connect, type Socket } from 'node:net';

export interface Via {
  port: number;
  /** Absent: no credentials offered (method 0), for source-address auth or open peers. */
  user?: string;
  pass?: string;
}

export type Job =
  | { kind: 'setup'; via?: Via; echo: number[]; concurrency: number; ms: number }
  | { kind: 'bulk'; via?: Via; source: number; streams: number; ms: number }
  | { kind: 'latency'; via?: Via; echo: number[]; rounds: number }
  | { kind: 'hold'; via?: Via; echo: number[]; count: number };

const HOST = '127.0.0.1';

/**
 * Source addresses rotate over 127.77.0.0/16: each connection gets a fresh
 * 4-tuple space, so thousands of TIME_WAIT sockets from earlier runs never
 * exhaust the ephemeral ports (which otherwise shows up as 1 s SYN retries).
 */
let nextSource = 0;
function sourceAddress(): string {
  const i = nextSource++ % 4096;
  return `127.77.${i >> 8}.${(i & 255) || 1}`;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: HOST, noDelay: true, localAddress: sourceAddress() });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Read exactly n bytes (the SOCKS replies are small and fixed here: IPv4 bind addresses). */
function read(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, d]) : Buffer.from(d);
      if (buf.length < n) return;
      s.off('data', onData);
      s.off('close', onClose);
      s.pause();
      if (buf.length > n) s.unshift(buf.subarray(n));
      resolve(buf.subarray(0, n));
    };
    const onClose = (): void => reject(new Error('closed during handshake'));
    s.on('data', onData);
    s.once('close', onClose);
    s.resume();
  });
}

/**
 * A tunnel to 127.0.0.1:port, direct or through a SOCKS5 proxy. One step at a
 * time, like curl: some peers (microsocks) drop bytes pipelined past a step.
 */
export async function tunnel(via: Via | undefined, port: number): Promise<Socket> {
  if (!via) return open(port);
  const s = await open(via.port);
  s.on('error', () => undefined);
  const timer = setTimeout(() => s.destroy(), 5000); // bounded: a stuck handshake counts as an error
  try {
    const auth = via.user !== undefined;
    s.write(Buffer.from([5, 1, auth ? 2 : 0]));
    const m = await read(s, 2);
    if (m[1] !== (auth ? 2 : 0)) throw new Error(`method ${m[1]}`);
    if (auth) {
      const u = Buffer.from(via.user!);
      const p = Buffer.from(via.pass ?? '');
      s.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
      const a = await read(s, 2);
      if (a[1] !== 0) throw new Error(`auth status ${a[1]}`);
    }
    s.write(Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 255]));
    const r = await read(s, 10);
    if (r[1] !== 0) throw new Error(`REP ${r[1]}`);
    return s;
  } catch (err) {
    s.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]! : NaN;
}

async function setup(job: Extract<Job, { kind: 'setup' }>): Promise<object> {
  const lat: number[] = [];
  let errors = 0;
  const end = Date.now() + job.ms;
  const MAX = 200_000; // bounded in count as well as time
  const worker = async (): Promise<void> => {
    while (Date.now() < end && lat.length + errors < MAX) {
      const t0 = process.hrtime.bigint();
      try {
        const s = await tunnel(job.via, job.echo[(lat.length + errors) % job.echo.length]!);
        s.write('x');
        await read(s, 1);
        s.destroy();
        lat.push(Number(process.hrtime.bigint() - t0) / 1e3);
      } catch {
        errors++;
      }
    }
  };
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  const secs = (Date.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  // The generator's own CPU per setup: on a 2-core machine it competes with the proxy.
  return { perSec: lat.length / secs, p50us: pct(lat, 50), p99us: pct(lat, 99), errors, genCpuUs: (cpu.user + cpu.system) / Math.max(1, lat.length), count: lat.length };
}

async function bulk(job: Extract<Job, { kind: 'bulk' }>): Promise<object> {
  const socks = await Promise.all(Array.from({ length: job.streams }, () => tunnel(job.via, job.source)));
  let bytes = 0;
  let all = 0;
  // Every byte counts in `mb` (for CPU per MB over the whole process, bench/link-path.ts); the rate only after the warm-up.
  for (const s of socks) s.on('data', (d: Buffer) => ((bytes += d.length), (all += d.length))).resume();
  await new Promise((r) => setTimeout(r, 200)); // warm-up: windows open, then the rate from a flowing start
  bytes = 0;
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, job.ms));
  const secs = (Date.now() - t0) / 1000;
  for (const s of socks) s.destroy();
  return { mbPerSec: bytes / secs / 1e6, mb: all / 1e6 };
}

async function latency(job: Extract<Job, { kind: 'latency' }>): Promise<object> {
  const s = await tunnel(job.via, job.echo[0]!);
  const msg = Buffer.alloc(64, 1);
  const lat: number[] = [];
  for (let i = 0; i < job.rounds; i++) {
    const t0 = process.hrtime.bigint();
    s.write(msg);
    await read(s, 64);
    lat.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  s.destroy();
  lat.sort((a, b) => a - b);
  return { p50us: pct(lat, 50), p99us: pct(lat, 99) };
}

/** Open `count` tunnels, prove each works, report, then hold them until told to stop (stdin closes). */
async function hold(job: Extract<Job, { kind: 'hold' }>): Promise<object> {
  const socks: Socket[] = [];
  for (let i = 0; i < job.count; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, job.count - i) }, (_, k) => tunnel(job.via, job.echo[k % job.echo.length]!)));
    for (const s of batch) {
      s.write('h');
      await read(s, 1);
    }
    socks.push(...batch);
  }
  process.stdout.write(JSON.stringify({ open: socks.length }) + '\n');
  await new Promise((r) => process.stdin.once('end', r).resume());
  for (const s of socks) s.destroy();
  return { closed: socks.length };
}

const job = JSON.parse(process.argv[2]!) as Job;
const run = { setup, bulk, latency, hold }[job.kind] as (j: Job) => Promise<object>;
process.stdout.write(JSON.stringify(await run(job)) + '\n');
process.exit(0);

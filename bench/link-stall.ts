/**
 * One stalled reader among 1,000 streams on one link (issue 19 target: the other 999 keep
 * ≥ 90 % of their throughput, and the link's memory stays within the windows). The exit side
 * (a child process) writes --kib KiB on every stream, honouring backpressure like a relay; the
 * ingress side (this process) reads them all — or all but stream 0, which it never reads.
 * Product defaults for windows and buffers (src/link/session.ts).
 *
 * Per round, both phases, order alternating: the time until the flowing streams have all their
 * bytes, as MB/s of payload per flowing stream, and after the stalled phase the bytes buffered
 * for the stalled stream on each side (ingress: its receive window; exit: what its writer handed
 * over and the window did not let across) and RSS. Medians over --rounds.
 *
 *   npm run build && node --expose-gc dist/bench/link-stall.js [--rounds 3] [--streams 1000] [--kib 2048]
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLinkIdentity, dialLinkTls, linkTlsServer, type LinkIdentity } from '../src/link/identity.js';
import { DEFAULT_WINDOW, LinkSession } from '../src/link/session.js';
import type { LinkStream } from '../src/link/stream.js';

interface ExitFigures {
  /** Bytes the exit side holds for streams whose reader stalled: written by its writer, not yet sent. */
  stalledBuffered: number;
  rss: number;
  cpuUs: number;
}

// ---------------------------------------------------------------- exit side (child)

async function serve(id: LinkIdentity, ingressFp: string): Promise<void> {
  const chunk = Buffer.alloc(16 * 1024, 0x71);
  const open = new Set<LinkStream>();
  const server = linkTlsServer({ identity: id, pinned: [ingressFp] }, (sock) => {
    const session = new LinkSession(sock, { dialled: false, name: 'bench exit' });
    session.on('close', () => undefined);
    // The OPEN's port says how many KiB to send on the stream.
    session.on('stream', (s, req) => {
      s.on('error', () => undefined);
      s.accept();
      open.add(s);
      s.on('close', () => open.delete(s));
      const total = req.port * 1024;
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          sent += chunk.length;
          if (!s.write(chunk)) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'figures') {
      let stalledBuffered = 0;
      for (const s of open) stalledBuffered += s.bufferedBytes;
      const c = process.cpuUsage();
      const f: ExitFigures = { stalledBuffered, rss: process.memoryUsage().rss, cpuUs: c.user + c.system };
      process.send!({ figures: f });
    }
    if (m.cmd === 'exit') process.exit(0);
  });
  process.send!({ port: (server.address() as AddressInfo).port });
}

// ---------------------------------------------------------------- ingress side

let child: ChildProcess;
function exitFigures(): Promise<ExitFigures> {
  return new Promise((resolve) => {
    const on = (m: { figures?: ExitFigures }): void => {
      if (!m.figures) return;
      child.off('message', on);
      resolve(m.figures);
    };
    child.on('message', on);
    child.send({ cmd: 'figures' });
  });
}

function readAll(s: LinkStream): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    s.on('data', (d: Buffer) => (n += d.length));
    s.once('end', () => resolve(n));
    s.once('error', reject);
  });
}

interface Phase {
  /** Payload MB/s per flowing stream. */
  perStreamMBs: number;
  ms: number;
  ingressStalled: number;
  exitStalled: number;
  rssIngress: number;
  rssExit: number;
  cpuUsPerMB: number;
}

async function phase(session: LinkSession, streams: number, kib: number, stall: boolean): Promise<Phase> {
  const cpu0 = process.cpuUsage();
  const x0 = await exitFigures();
  const opened = await Promise.all(Array.from({ length: streams }, () => session.open('127.0.0.1', kib)));
  const [first, ...rest] = opened;
  if (stall) first!.pause();
  const flowing = stall ? rest : opened;
  const t0 = performance.now();
  const got = await Promise.all(flowing.map(readAll));
  const ms = performance.now() - t0;
  if (got.some((n) => n !== kib * 1024)) throw new Error('a flowing stream lost bytes');
  const x1 = await exitFigures();
  const cpu = process.cpuUsage(cpu0);
  const out: Phase = {
    perStreamMBs: (kib * 1024) / 1e6 / (ms / 1000),
    ms,
    ingressStalled: stall ? first!.readableLength : 0,
    exitStalled: x1.stalledBuffered,
    rssIngress: process.memoryUsage().rss,
    rssExit: x1.rss,
    cpuUsPerMB: (cpu.user + cpu.system + x1.cpuUs - x0.cpuUs) / ((flowing.length * kib * 1024) / 1e6),
  };
  if (stall) {
    first!.resume();
    await readAll(first!);
  }
  await Promise.all(opened.map((s) => new Promise<void>((r) => (s.destroyed ? r() : (s.end(), s.once('close', () => r()))))));
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main(): Promise<void> {
  const { values: opt } = parseArgs({
    options: { rounds: { type: 'string', default: '3' }, streams: { type: 'string', default: '1000' }, kib: { type: 'string', default: '2048' }, server: { type: 'boolean', default: false } },
  });
  if (opt.server) {
    const ids = JSON.parse(process.env.HOPGATE_BENCH_IDS!) as { exit: LinkIdentity; ingressFp: string };
    return serve(ids.exit, ids.ingressFp);
  }
  const rounds = Math.min(Number(opt.rounds), 9);
  const streams = Math.min(Number(opt.streams), 4000);
  const kib = Math.min(Number(opt.kib), 4096);
  const ingress = createLinkIdentity('bench ingress');
  const exit = createLinkIdentity('bench exit');
  child = fork(fileURLToPath(import.meta.url), ['--server'], { env: { ...process.env, HOPGATE_BENCH_IDS: JSON.stringify({ exit, ingressFp: ingress.fingerprint }) } });
  process.on('exit', () => child.exitCode === null && child.kill('SIGTERM')); // only the child we started
  const port = await new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));
  const sock = await dialLinkTls({ host: '127.0.0.1', port, identity: ingress, pinned: [exit.fingerprint] });
  const session = new LinkSession(sock, { dialled: true, name: 'bench ingress' });
  session.on('close', () => undefined);

  const flowing: Phase[] = [];
  const stalled: Phase[] = [];
  const loads: number[] = [];
  for (let r = 0; r < rounds; r++) {
    loads.push(loadavg()[0]!);
    for (const stall of r % 2 ? [true, false] : [false, true]) {
      const p = await phase(session, streams, kib, stall);
      (stall ? stalled : flowing).push(p);
      process.stderr.write(`round ${r + 1} ${stall ? 'one stalled' : 'all flowing'}: ${p.perStreamMBs.toFixed(3)} MB/s per stream, ${p.ms.toFixed(0)} ms, stalled bytes ingress ${p.ingressStalled} exit ${p.exitStalled}\n`);
    }
  }
  session.destroy();
  child.send({ cmd: 'exit' });
  const m = (ps: Phase[], k: keyof Phase): number => median(ps.map((p) => p[k]));
  const f = (x: number, d = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(`${streams} streams × ${kib} KiB on one link, stream window ${DEFAULT_WINDOW / 1024} KiB (product defaults); medians of ${rounds} rounds; load average 1 min at each round's start: ${loads.map((l) => l.toFixed(2)).join(', ')}`);
  console.log('| phase | MB/s per flowing stream | time to deliver ms | CPU µs per MB (both sides) | held for the stalled stream: ingress / exit B | RSS ingress / exit MiB |');
  console.log('|---|---|---|---|---|---|');
  for (const [name, ps] of [['all flowing', flowing], ['one stalled', stalled]] as const) {
    console.log(`| ${name} | ${f(m(ps, 'perStreamMBs'), 3)} | ${f(m(ps, 'ms'))} | ${f(m(ps, 'cpuUsPerMB'))} | ${f(m(ps, 'ingressStalled'))} / ${f(m(ps, 'exitStalled'))} | ${f(m(ps, 'rssIngress') / 1048576)} / ${f(m(ps, 'rssExit') / 1048576)} |`);
  }
  const ratio = m(stalled, 'perStreamMBs') / m(flowing, 'perStreamMBs');
  console.log(`the ${streams - 1} beside a stalled one keep ${(ratio * 100).toFixed(0)} % of their throughput (per round: ${stalled.map((s, i) => ((s.perStreamMBs / flowing[i]!.perStreamMBs) * 100).toFixed(0)).join(', ')} %)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

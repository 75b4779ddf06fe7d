/**
 * CPU per 64 B echo through the link layer, both ends in one process (issue 19, the echo target):
 * the cost of a message's path through the code, without the process wake-ups that dominate a
 * cross-process echo on a shared machine and make its latency swing with the neighbours. A ping-pong
 * in one process never sleeps (loopback delivers at once), so its CPU time per echo is the sum of
 * both ends' per-message work: a stable figure for an A/B of the send and receive paths.
 *
 * Modes, each on real loopback sockets: `tcp` (two net sockets), `tls` (a TLS 1.3 connection, as a
 * link's), `link` (a stream inside a LinkSession pair over that TLS, the far end echoing it back),
 * `link-tcp` (the same over plain TCP: the link layer without TLS). Rounds alternate the modes;
 * medians of the rounds.
 *
 *   npm run build && node dist/bench/link-echo-cpu.js [--rounds 7] [--echoes 20000] [--modes tcp,tls,link,link-tcp]
 */
import { connect as netConnect, createServer as netServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createLinkIdentity, dialLinkTls, linkTlsServer } from '../src/link/identity.js';
import { LinkSession } from '../src/link/session.js';

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    echoes: { type: 'string', default: '20000' },
    modes: { type: 'string', default: 'tcp,tls,link,link-tcp' },
  },
});
const ROUNDS = Math.min(Number(opt.rounds), 50);
const ECHOES = Math.min(Number(opt.echoes), 1_000_000);
const MODES = opt.modes.split(',');

const listen = (server: Server): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));

const tcpConnect = (port: number): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port, noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });

/** One end of each mode, and what to close after it. */
interface Pair {
  end: Duplex;
  close(): void;
}

const ids = { a: createLinkIdentity('bench ingress'), b: createLinkIdentity('bench exit') };

async function pair(mode: string): Promise<Pair> {
  const echo = (s: Duplex): void => void s.on('data', (d: Buffer) => s.write(d)).on('error', () => undefined);
  if (mode === 'tcp') {
    const server = netServer((s) => (s.setNoDelay(true), echo(s)));
    const end = await tcpConnect(await listen(server));
    return { end, close: () => (end.destroy(), server.close()) };
  }
  if (mode === 'tls') {
    const server = linkTlsServer({ identity: ids.b, pinned: [ids.a.fingerprint] }, (s) => (s.setNoDelay(true), echo(s)));
    const end = await dialLinkTls({ host: '127.0.0.1', port: await listen(server), identity: ids.a, pinned: [ids.b.fingerprint] });
    end.setNoDelay(true);
    return { end, close: () => (end.destroy(), server.close()) };
  }
  const serve = (sock: Duplex): void => {
    const session = new LinkSession(sock, { dialled: false, name: 'bench far' });
    session.on('stream', (s) => (s.accept(), echo(s)));
    session.on('close', () => undefined);
  };
  let sock: Duplex;
  let server: Server;
  if (mode === 'link') {
    server = linkTlsServer({ identity: ids.b, pinned: [ids.a.fingerprint] }, serve);
    sock = await dialLinkTls({ host: '127.0.0.1', port: await listen(server), identity: ids.a, pinned: [ids.b.fingerprint] });
  } else {
    server = netServer((s) => (s.setNoDelay(true), serve(s)));
    sock = await tcpConnect(await listen(server));
  }
  const session = new LinkSession(sock, { dialled: true, name: 'bench near' });
  session.on('close', () => undefined);
  const end = await session.open('127.0.0.1', 7);
  return { end, close: () => (session.destroy(), server.close()) };
}

/** `n` echoes of 64 B one after another: CPU µs and wall µs per echo. */
async function run(end: Duplex, n: number): Promise<{ cpu: number; wall: number }> {
  const msg = Buffer.alloc(64, 0x62);
  let got = 0;
  let left = n;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  end.on('data', (d: Buffer) => {
    got += d.length;
    if (got < msg.length) return;
    got = 0;
    if (--left === 0) done();
    else end.write(msg);
  });
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  end.write(msg);
  await finished;
  const c = process.cpuUsage(c0);
  end.removeAllListeners('data');
  return { cpu: (c.user + c.system) / n, wall: Number(process.hrtime.bigint() - t0) / 1e3 / n };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

async function main(): Promise<void> {
  const rows = new Map<string, { cpu: number[]; wall: number[] }>(MODES.map((m) => [m, { cpu: [], wall: [] }]));
  const pairs = new Map<string, Pair>();
  for (const m of MODES) {
    const p = await pair(m);
    await run(p.end, 2000); // warm-up: JIT
    pairs.set(m, p);
  }
  const loads: string[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    loads.push(loadavg()[0]!.toFixed(1));
    for (const m of MODES) {
      const x = await run(pairs.get(m)!.end, ECHOES);
      rows.get(m)!.cpu.push(x.cpu);
      rows.get(m)!.wall.push(x.wall);
    }
  }
  for (const p of pairs.values()) p.close();
  console.log(`${ROUNDS} rounds of ${ECHOES} echoes, one process (load average at each round: ${loads.join(' ')})`);
  console.log('| mode | CPU µs per echo (rounds) | wall µs per echo |');
  console.log('|---|---|---|');
  for (const [m, v] of rows) {
    console.log(`| ${m} | ${median(v.cpu).toFixed(1)} (${v.cpu.map((x) => x.toFixed(1)).join(' ')}) | ${median(v.wall).toFixed(1)} |`);
  }
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack}\n`);
  process.exit(1);
});

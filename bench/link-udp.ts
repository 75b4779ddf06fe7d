/**
 * UDP through one hopgate exit, over a link (DATAGRAM frames of one UDP stream)
 * and the old way (the ingress's own UDP association at the exit's SOCKS5 port),
 * in one run (issue 19). One `hopgate exit` (SOCKS5 port and --link-listen), one
 * ingress with 1 worker routing `-cc-aa` to it over SOCKS5 and `-cc-ll` over a
 * link (bench/linked-exit.ts), and `-cc-rr` to a reverse exit (`hopgate exit
 * --connect-to`) over the link it dialled; a UDP echo and the client in this process.
 *
 * Per subject and round: one association, `--window` datagrams in flight (each
 * echo sends the next) for `--ms`; datagrams/s (round trips), CPU µs per round
 * trip of the ingress and both exits together (/proc; the idle one adds only
 * its heartbeats), datagrams lost. Rounds
 * alternate the subjects; medians over rounds.
 *
 *   npm run build && node dist/bench/link-udp.js [--rounds 3] [--ms 2000] [--window 32] [--size 64]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SocksClient } from 'socks';
import { hashPassword } from '../src/shared/auth/password-hash.js';
import { cpuUs } from './proc-cpu.js';
import { waitPort } from './child-procs.js';
import { linkedIngressYaml, pinnedLink } from './linked-exit.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'src', 'cli', 'main.js');
const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    ms: { type: 'string', default: '2000' },
    window: { type: 'string', default: '32' },
    size: { type: 'string', default: '64' },
  },
});
const ROUNDS = Number(opt.rounds);
const MS = Number(opt.ms);
const WINDOW = Number(opt.window);
const SIZE = Number(opt.size);
const USER = 'bench';
const PASS = 'bench-pass-123';
const SECRET = 'bench-relay-secret';
const TOKEN = 'bench-reverse-exit-token';
const work = mkdtempSync(join(tmpdir(), 'hopgate-linkudp-'));
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGTERM'))); // ours, by PID
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

function start(args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  children.push(child);
  return child;
}

async function udpSocket(): Promise<UdpSocket> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

/** One association through `user` for MS ms, WINDOW datagrams in flight: round trips and losses. */
async function run(port: number, user: string, echoPort: number): Promise<{ done: number; lost: number }> {
  const assoc = await new Promise<{ socket: { destroy(): void }; remoteHost?: { port: number } }>((resolve, reject) => {
    const c = new SocksClient({ proxy: { host: '127.0.0.1', port, type: 5, userId: user, password: PASS }, command: 'associate', destination: { host: '0.0.0.0', port: 0 }, timeout: 5000 });
    c.once('established', resolve);
    c.once('error', reject);
    c.connect();
  });
  const udp = await udpSocket();
  const frame = SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: echoPort }, data: Buffer.alloc(SIZE, 0x61) });
  const relay = assoc.remoteHost!.port;
  let done = 0;
  let sent = 0;
  const until = Date.now() + MS;
  const send = (): void => {
    sent++;
    udp.send(frame, relay, '127.0.0.1');
  };
  udp.on('message', () => {
    done++;
    if (Date.now() < until) send();
  });
  for (let i = 0; i < WINDOW; i++) send();
  // A lost datagram shrinks the window: refill it while time is left.
  const refill = setInterval(() => {
    for (let i = sent - done; i < WINDOW && Date.now() < until; i++) send();
  }, 100);
  await new Promise((r) => setTimeout(r, MS + 300));
  clearInterval(refill);
  udp.close();
  assoc.socket.destroy();
  return { done, lost: sent - done };
}

async function main(): Promise<void> {
  const echo = await udpSocket();
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  const base = 12000 + Math.floor(Math.random() * 1500) * 4; // below the ephemeral range (32768+)
  const ip = '127.0.0.1';
  const link = pinnedLink(work, `-${base}`, `${ip}:${base + 2}`);
  const exit = start([cli, 'exit', '--listen', `${ip}:${base + 1}`, '--egress', '127.0.0.2', '--allow-from', '127.0.0.0/8', '--allow-target', '127.0.0.0/8', ...link.exitArgs], { HOPGATE_EXIT_SECRET: SECRET });
  await waitPort(base + 1, ip);
  await waitPort(base + 2, ip);
  const cfg = join(work, 'ingress.yaml');
  // The reverse exit's tunnel port (TLS): a certificate for 127.0.0.1 made here.
  const cert = join(work, 'cert.pem');
  const key = join(work, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=bench', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const tunnelPort = base + 3;
  const reverseExit = `{ id: rev, kind: reverse, tokenHash: '${await hashPassword(TOKEN, { ln: 12, r: 8, p: 1 })}', country: rr }`;
  const yaml = linkedIngressYaml({ port: base, user: USER, passwordHash: await hashPassword(PASS, { ln: 14, r: 8, p: 1 }), exit: { host: ip, port: base + 1, secret: SECRET }, linkPort: base + 2, link, moreExits: [reverseExit] });
  writeFileSync(cfg, `${yaml}\nreverse: { listen: { host: 127.0.0.1, port: ${tunnelPort} }, tls: { cert: ${cert}, key: ${key} }, waitMs: 10000 }\n`);
  const ingress = start([cli, 'ingress', '--config', cfg, '--workers', '1']);
  await waitPort(base);
  await waitPort(tunnelPort);
  const rev = start([cli, 'exit', '--connect-to', `127.0.0.1:${tunnelPort}`, '--id', 'rev', '--ca', cert, '--links', '1', '--egress', '127.0.0.3', '--allow-target', '127.0.0.0/8', '--log-level', 'warn'], { HOPGATE_EXIT_TOKEN: TOKEN });
  const pids = [ingress.pid!, exit.pid!, rev.pid!];
  const subjects = [
    { name: 'ingress → exit, UDP ASSOCIATE at its SOCKS5 port (old path)', user: `${USER}-cc-aa` },
    { name: 'ingress → exit over a link (DATAGRAM frames)', user: `${USER}-cc-ll` },
    { name: 'ingress → reverse exit over the link it dialled', user: `${USER}-cc-rr` },
  ];
  for (const s of subjects) await run(base, s.user, echo.address().port); // warm-up: JIT, scrypt once, the link up
  const rows = new Map<string, Array<{ rate: number; cpu: number; lost: number }>>();
  const loads: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    loads.push(loadavg()[0]!.toFixed(1));
    for (const s of subjects) {
      const c0 = cpuUs(pids);
      const r = await run(base, s.user, echo.address().port);
      const row = { rate: r.done / (MS / 1000), cpu: (cpuUs(pids) - c0) / Math.max(1, r.done), lost: r.lost };
      rows.set(s.name, [...(rows.get(s.name) ?? []), row]);
      process.stderr.write(`round ${round + 1}/${ROUNDS} ${s.name}: ${JSON.stringify(row, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v) : v))}\n`);
    }
  }
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
  const out = [
    `Medians of ${ROUNDS} rounds (load average at each round's start: ${loads.join(', ')}); ${MS} ms per round, ${WINDOW} datagrams of ${SIZE} B in flight; CPU = ingress + both exits from /proc, per round trip (each round's figure in brackets).`,
    '',
    '| subject | round trips/s | CPU µs per round trip | lost |',
    '|---|---|---|---|',
  ];
  for (const s of subjects) {
    const r = rows.get(s.name)!;
    const each = (k: 'rate' | 'cpu' | 'lost'): string => r.map((x) => fmt(x[k])).join(' ');
    out.push(`| ${s.name} | ${fmt(median(r.map((x) => x.rate)))} (${each('rate')}) | ${fmt(median(r.map((x) => x.cpu)))} (${each('cpu')}) | ${each('lost')} |`);
  }
  process.stdout.write(out.join('\n') + '\n');
  echo.close();
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack}\n`);
    process.exitCode = 1;
  })
  .finally(() => process.exit());

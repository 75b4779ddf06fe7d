/**
 * Why connectTcp picks its own source port when a source address is bound:
 * 32 concurrent connect()s to 8 local ports, N in total, three ways — unbound,
 * bound with port 0 (the kernel's search), bound with a random port we choose.
 * Uses fresh 127.0.0.x addresses per run; leaves TIME_WAIT behind, as real egress does.
 *
 *   npm run build && node dist/bench/egress-bind.js [count=30000]
 */
import { createServer, connect, type AddressInfo } from 'node:net';
import { connectTcp } from '../src/shared/net/connect-tcp.js';

const COUNT = Number(process.argv[2] ?? 30000);
const LIMIT_MS = 40_000; // bounded in time as well as count

const servers = await Promise.all(
  Array.from({ length: 8 }, async () => {
    const s = createServer((c) => c.destroy());
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return s;
  }),
);
const ports = servers.map((s) => (s.address() as AddressInfo).port);
const octet = 100 + Math.floor(Math.random() * 100);

async function run(name: string, open: (port: number) => Promise<{ destroy(): void }>): Promise<void> {
  let n = 0;
  let errors = 0;
  let slow = 0;
  const t0 = Date.now();
  const worker = async (): Promise<void> => {
    while (n < COUNT && Date.now() - t0 < LIMIT_MS) {
      n++;
      const t = performance.now();
      try {
        (await open(ports[n % ports.length]!)).destroy();
      } catch {
        errors++;
      }
      if (performance.now() - t > 100) slow++;
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  console.log(`${name.padEnd(34)} ${String(n).padStart(6)} connects in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${slow} over 100 ms, ${errors} errors`);
}

const plain = (port: number, localAddress?: string) =>
  new Promise<{ destroy(): void }>((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress });
    s.once('connect', () => resolve(s)).once('error', reject);
  });
await run('unbound', (p) => plain(p));
await run(`bound 127.0.${octet}.1, port 0`, (p) => plain(p, `127.0.${octet}.1`));
await run(`bound 127.0.${octet}.2, own port`, (p) => connectTcp('127.0.0.1', p, 5000, { localAddress: `127.0.${octet}.2` }));
for (const s of servers) s.close();

/**
 * A controlled ingress in a process of its own, for crash and storage tests
 * (kill -9, a read-only or full state dir mounted in a private namespace).
 * Environment: HG_CONTROL_URL, HG_TOKEN, HG_STATE_DIR, optional
 * HG_CLOCK_OFFSET_MS (moves the statistics clock), HG_BOOT_WAIT_MS; SIGUSR2
 * moves the clock a minute on (a test minute ends at once). Prints one JSON line when ready; logs (JSON) go
 * to stderr; SIGTERM stops it cleanly.
 */
import { startControlledIngress } from '../../src/processes/controlled-ingress.js';
import { createLogger } from '../../src/shared/log.js';

async function main(): Promise<void> {
  let offset = Number(process.env.HG_CLOCK_OFFSET_MS ?? 0);
  // SIGUSR2: the statistics clock moves a minute on (the open minute closes within a second).
  process.on('SIGUSR2', () => (offset += 60_000));
  const ing = await startControlledIngress({
    controlUrl: process.env.HG_CONTROL_URL!,
    token: process.env.HG_TOKEN!,
    stateDir: process.env.HG_STATE_DIR!,
    workers: 1,
    admin: { host: '127.0.0.1', port: 0 },
    log: createLogger('info', { role: 'ingress' }),
    bootWaitMs: Number(process.env.HG_BOOT_WAIT_MS ?? 3000),
    minBackoffMs: 50,
    maxBackoffMs: 400,
    statsGraceMs: 200,
    now: () => Date.now() + offset,
  });
  process.stdout.write(JSON.stringify({ ready: true, ports: ing.ports, adminUrl: ing.adminUrl, bootedFrom: ing.bootedFrom, revision: ing.revision }) + '\n');
  process.once('SIGTERM', () => {
    ing.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`stop failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  });
}

// `node --test dist/test/` also runs every file under test/ (helpers included): without the environment this does nothing.
if (process.env.HG_CONTROL_URL) await main();

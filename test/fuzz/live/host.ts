/**
 * The system under live fuzz, in its own process so that a crash is seen as
 * what it is in production (the process dies) and its memory and file
 * descriptors are its own: a real hopgate exit and a real ingress routing
 * through it, as the test helpers start them. No process-level error handler:
 * an unhandled rejection kills this process, as it would kill hopgate.
 *
 * stdout: one JSON line {"ready":true,"port":N} then one {"stats":…} per "stats" line on stdin.
 */
import { readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestIngress } from '../../helpers/ingress.js';
import { exitEntry, startTestExit } from '../../helpers/exits.js';
import { ensureSelfSignedCert } from '../../../src/cli/tls-cert.js';

// `node --test dist/test/` loads every file under it: this one runs only when host-process.ts spawns it.
if (process.env['HOPGATE_FUZZ_HOST'] !== '1') process.exit(0);

const exit = await startTestExit('fuzz-exit', '127.0.0.1');
const tls = ensureSelfSignedCert(join(mkdtempSync(join(tmpdir(), 'hopgate-fuzz-')), 'tls'))!;
const ing = await startTestIngress({
  tls,
  exits: [exitEntry(exit, 'us')],
  // Short enough that idle garbage clients go within a fuzz run; as in production, bounded.
  limits: { handshakeTimeoutMs: 2000, connectTimeoutMs: 2000 },
});

function stats(): object {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    fds: readdirSync('/proc/self/fd').length,
    sessions: ing.ingress.runtime.sessions.size + exit.node.runtime.sessions.size,
  };
}

process.stdout.write(`${JSON.stringify({ ready: true, port: ing.port })}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'stats') process.stdout.write(`${JSON.stringify({ stats: stats() })}\n`);
});
process.stdin.on('end', () => {
  ing.stop().then(() => exit.node.shutdown(100)).then(() => process.exit(0), () => process.exit(1));
});

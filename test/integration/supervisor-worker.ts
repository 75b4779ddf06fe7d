/**
 * A worker for supervisor.test.ts (forked by the supervisor, as an ingress worker is):
 * argv[2] a directory for its marks, argv[3] its behaviour —
 * 'ok': ready at once; 'malformed': four messages off the IPC list first, then ready;
 * 'fail': says it failed and leaves. On SIGTERM it drains for 300 ms, marks
 * `drained-<pid>` and exits 0.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toPrimary } from '../../src/processes/worker-channel.js';

const [dir = '.', mode = 'ok'] = process.argv.slice(2);

if (mode === 'fail') {
  toPrimary({ type: 'hopgate:worker:failed', error: 'cannot start: by design' }, () => process.exit(1));
} else {
  if (mode === 'malformed') {
    const raw = (m: unknown): boolean => process.send!(m);
    raw({ type: 'hopgate:no-such-message' });
    raw({ type: 'hopgate:worker:ready', ports: 'all of them' });
    raw('ready');
    raw({ type: 'hopgate:stats:pull', id: -1, auth: '', url: '/v1/stats' });
  }
  process.once('SIGTERM', () => {
    setTimeout(() => {
      writeFileSync(join(dir, `drained-${process.pid}`), '');
      process.exit(0);
    }, 300);
  });
  process.once('SIGINT', () => undefined);
  toPrimary({ type: 'hopgate:worker:ready', ports: [] });
}

/**
 * A worker for supervisor.test.ts (forked by the supervisor, as an ingress worker is):
 * argv[2] a directory for its marks, argv[3] its behaviour —
 * 'ok': ready at once; 'malformed': four messages off the IPC list first, then ready;
 * 'reverse': ready, then a tunnel load report off the list; it answers each hello with a
 * good one, and writes every message from the primary to `got-<pid>`, one a line (with
 * ' +socket' when a socket came with it, which it keeps open);
 * 'handle': a good booting with a listening server (127.0.0.1, its port in `port-<pid>`) attached, which
 * it then closes on its side, then ready;
 * 'fail': says it failed and leaves. On SIGTERM it drains for 300 ms, marks
 * `drained-<pid>` and exits 0.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { createServer, Socket, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { toPrimary } from '../../src/processes/worker-channel.js';

const [dir = '.', mode = 'ok'] = process.argv.slice(2);

if (mode === 'fail') {
  toPrimary({ type: 'hopgate:worker:failed', error: 'cannot start: by design' }, () => process.exit(1));
} else if (mode === 'handle') {
  // No worker message takes a handle: the primary must close its copy of this one, or the port stays open in it.
  const server = createServer((c) => c.destroy());
  server.listen(0, '127.0.0.1', () => {
    writeFileSync(join(dir, `port-${process.pid}`), String((server.address() as AddressInfo).port));
    process.send!({ type: 'hopgate:worker:booting' }, server, {}, () => {
      server.close();
      toPrimary({ type: 'hopgate:worker:ready', ports: [] });
    });
  });
  process.once('SIGTERM', () => process.exit(0));
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
  if (mode === 'reverse') {
    // Raw, not through the worker channel: the marks are what the primary sent, as it came.
    process.on('message', (m: { type?: unknown } | null, handle: unknown) => {
      appendFileSync(join(dir, `got-${process.pid}`), `${String(m?.type)}${handle instanceof Socket ? ' +socket' : ''}\n`);
      if (m?.type === 'hopgate:reverse:hello') toPrimary({ type: 'hopgate:reverse:load', load: 0, received: 0, open: true, exits: [] });
    });
  }
  toPrimary({ type: 'hopgate:worker:ready', ports: [] });
  if (mode === 'reverse') process.send!({ type: 'hopgate:reverse:load', load: 'many', received: 0, open: true, exits: [] });
}

import { workerMain } from './ingress-process.js';

workerMain(process.argv[2] ?? '').catch((err: unknown) => {
  // A failure before the worker has a logger (its configuration unreadable): tell the primary, then leave.
  process.send?.({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});

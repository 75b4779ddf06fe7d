/**
 * A worker process's end of the IPC channel to its primary: typed sends, and
 * received messages checked against the one message list (ipc-messages.ts)
 * before a handler sees them.
 */
import type { QuotaSync } from '../ingress/guard/quota.js';
import { parsePrimaryMessage, type PrimaryMessage, type WorkerMessage } from './ipc-messages.js';

/** Send to the primary; `done` runs once it is written (or at once when the channel is closed). */
export function toPrimary(m: WorkerMessage, done?: () => void): void {
  if (process.connected && process.send) process.send(m, undefined, {}, () => done?.());
  else done?.();
}

/**
 * Handle the primary's messages. Messages other modules of the worker handle themselves
 * (tunnel sockets, quota totals, auth events) reach `handler` too; it ignores what is not its own.
 * Returns a detach. `reportMalformed`: false for the second and later listeners (one line per bad message).
 */
export function onPrimary(handler: (m: PrimaryMessage) => void, reportMalformed = true): () => void {
  const listener = (raw: unknown): void => {
    const parsed = parsePrimaryMessage(raw);
    if (parsed.ok) handler(parsed.msg);
    else if (reportMalformed) process.stderr.write(`hopgate worker: malformed message from the primary dropped (${parsed.why})\n`);
  };
  process.on('message', listener);
  return () => void process.off('message', listener);
}

/** A worker's IPC channel to the primary, for quota usage. */
export function workerQuotaSync(): QuotaSync {
  return {
    send: (msg) => toPrimary(msg),
    onMessage: (handler) =>
      onPrimary((m) => {
        if (m.type === 'hopgate:quota:others') handler(m);
      }, false),
  };
}

/**
 * A worker process's end of the IPC channel to its primary: typed sends, and
 * received messages checked against the one message list (ipc-messages.ts)
 * before a handler sees them. The worker's modules that talk to the primary
 * (quota, auth throttles, the reverse tunnel intake) get their channel from
 * here; none reads or writes `process` IPC itself.
 */
import type { Socket } from 'node:net';
import type { QuotaSync } from '../ingress/guard/quota.js';
import type { ThrottleSync } from '../ingress/auth/throttle-sync.js';
import type { IntakeLink } from '../ingress/reverse/tunnel-intake.js';
import type { ReversePrimaryLink } from '../ingress/reverse/reverse-node.js';
import { closeHandle, parsePrimaryMessage, type PrimaryMessage, type WorkerMessage } from './ipc-messages.js';

/**
 * Send to the primary; `done` runs once it is written (or at once when the channel is closed).
 * False when the channel is closed (the primary is gone): nothing was sent.
 */
export function toPrimary(m: WorkerMessage, done?: () => void): boolean {
  if (process.connected && process.send) {
    process.send(m, undefined, {}, () => done?.());
    return true;
  }
  done?.();
  return false;
}

/** The worker's handlers of the primary's messages, in the order they attached, and whether each reports a dropped one. */
const handlers = new Set<{ readonly handler: (m: PrimaryMessage, socket?: Socket) => void; readonly report: boolean }>();
let listening = false;

/** The one 'message' listener: each message is checked once, then handed to every handler. */
function dispatch(raw: unknown, handle: unknown): void {
  const parsed = parsePrimaryMessage(raw, handle);
  if (parsed.ok) {
    for (const h of [...handlers]) h.handler(parsed.msg, parsed.socket);
    return;
  }
  closeHandle(handle); // whoever is attached: a kept handle holds its port or connection open
  if ([...handlers].some((h) => h.report)) process.stderr.write(`hopgate worker: malformed message from the primary dropped (${parsed.why})\n`);
}

/**
 * Handle the primary's messages (a tunnel connection with its socket). Messages other modules of the
 * worker handle themselves (tunnel sockets, quota totals, auth events) reach `handler` too; it ignores
 * what is not its own. Returns a detach. `reportMalformed`: false for the modules' handlers; a dropped
 * message is logged once, if a reporting handler (the worker's own) is attached.
 */
export function onPrimary(handler: (m: PrimaryMessage, socket?: Socket) => void, reportMalformed = true): () => void {
  if (!listening) {
    listening = true;
    process.on('message', dispatch);
  }
  const entry = { handler, report: reportMalformed };
  handlers.add(entry);
  return () => void handlers.delete(entry);
}

/** A channel for one kind of the primary's messages: sends go to the primary, handlers see only that kind. */
function channelOf<T extends PrimaryMessage['type']>(type: T): { send: (msg: WorkerMessage) => void; onMessage: (handler: (msg: Extract<PrimaryMessage, { type: T }>) => void) => () => void } {
  return {
    send: (msg) => void toPrimary(msg),
    onMessage: (handler) =>
      onPrimary((m) => {
        if (m.type === type) handler(m as Extract<PrimaryMessage, { type: T }>);
      }, false),
  };
}

/** A worker's IPC channel to the primary, for quota usage. */
export function workerQuotaSync(): QuotaSync {
  return channelOf('hopgate:quota:others');
}

/** A worker's IPC channel to the primary, for an auth throttle's events (every scope: shareThrottle picks its own). */
export function workerThrottleSync(): ThrottleSync {
  return channelOf('hopgate:auth:event');
}

/** Intakes attached in this process (any link), and whether the guard for connections none takes is listening. */
let intakesAttached = 0;
let orphanGuard = false;

/**
 * A worker's IPC channel to the primary, for the reverse tunnel intake: sockets in, load reports out.
 * A tunnel connection that arrives while no intake is attached (it closed: a shutdown, a failed reload
 * before its retry) is closed here; nobody else would, and it would stay open until the worker exits.
 */
export function workerIntakeLink(): IntakeLink {
  if (!orphanGuard) {
    orphanGuard = true;
    onPrimary((m, socket) => {
      if (m.type === 'hopgate:reverse:conn' && intakesAttached === 0) socket?.destroy();
    }, false);
  }
  return {
    send: (msg) => toPrimary(msg),
    onMessage: (handler) => {
      intakesAttached++;
      const detach = onPrimary((m, socket) => {
        if (m.type === 'hopgate:reverse:conn' || m.type === 'hopgate:reverse:keys' || m.type === 'hopgate:reverse:hello' || m.type === 'hopgate:reverse:release') handler(m, socket);
      }, false);
      let detached = false;
      return () => {
        if (detached) return;
        detached = true;
        intakesAttached--;
        detach();
      };
    },
  };
}

/** What the reverse side of a worker's ingress needs of the primary (Ingress.start's reverseFromPrimary). */
export function workerReverseLink(): ReversePrimaryLink {
  return { intake: workerIntakeLink(), throttle: workerThrottleSync() };
}

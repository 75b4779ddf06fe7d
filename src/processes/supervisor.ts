/**
 * The worker supervisor of every multi-process mode: forks `count` worker
 * processes (node:cluster, so they share listening ports; the kernel spreads
 * the accepts), waits until each says it is ready, restarts one that dies
 * with a back-off (shared/backoff.ts) so a worker that cannot start does not
 * spin, and on stop asks each to drain (SIGTERM) and waits until all are gone.
 *
 * Every message from a worker is checked against the one IPC message list
 * (ipc-messages.ts) before anyone sees it — the primary's other modules get
 * theirs from onMessage, none listens on the workers itself; one that does
 * not fit is dropped and counted, the worker and the primary carry on. What
 * the primary sends, send() types; the workers check it as they receive it
 * (worker-channel.ts).
 */
import cluster, { type Worker } from 'node:cluster';
import type { Socket } from 'node:net';
import { backoffDelay, type BackoffPolicy } from '../shared/backoff.js';
import type { Logger } from '../shared/log.js';
import { closeHandle, parseWorkerMessage, type PrimaryMessage, type WorkerMessage } from './ipc-messages.js';

export type SupervisorPhase = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

export interface SupervisorOptions {
  readonly count: number;
  /** The worker's entry module (a path), and its argv. */
  readonly exec: string;
  readonly args?: readonly string[];
  readonly log: Logger;
  /** Delay before restarting a worker that died (default 250 ms doubling to 10 s, jittered down by half). */
  readonly restart?: BackoffPolicy;
  /** A worker that stayed up this long starts its slot's back-off over (default 10 s). */
  readonly stableMs?: number;
  /** Every valid message from a worker, `ready` and `booting` included (before the supervisor counts them). */
  readonly onMessage?: (worker: Worker, msg: WorkerMessage) => void;
  /** A worker is gone (crashed, or stopped). */
  readonly onExit?: (worker: Worker, info: WorkerExit) => void;
}

export interface WorkerExit {
  readonly code: number | null;
  readonly signal: string | null;
  /** When it will be replaced (ms from now); undefined when it will not (stopping, or it never started). */
  readonly restartInMs: number | undefined;
}

export const DEFAULT_RESTART: BackoffPolicy = { baseMs: 250, maxMs: 10_000, jitter: 0.5 };

/** One place in the pool: the worker holding it now and its restart history. */
interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  forkedAt: number;
  /** Restarts since this slot last had a worker that stayed up `stableMs`. */
  attempt: number;
  restartTimer: NodeJS.Timeout | undefined;
}

export class WorkerSupervisor {
  private phase_: SupervisorPhase = 'idle';
  private readonly slots: Slot[];
  /** Messages from workers that did not fit the IPC message list. */
  rejected = 0;
  /** Workers restarted after dying. */
  restarts = 0;

  constructor(private readonly o: SupervisorOptions) {
    this.slots = Array.from({ length: Math.max(1, o.count) }, (_, index) => ({ index, worker: undefined, forkedAt: 0, attempt: 0, restartTimer: undefined }));
  }

  get phase(): SupervisorPhase {
    return this.phase_;
  }

  get count(): number {
    return this.slots.length;
  }

  /** The workers alive and connected now. */
  workers(): Worker[] {
    return this.slots.flatMap((s) => (s.worker?.isConnected() ? [s.worker] : []));
  }

  /** Fork every worker; resolves when all are ready. A worker failing to start stops the rest and rejects. */
  async start(): Promise<void> {
    if (this.phase_ !== 'idle') throw new Error(`supervisor already ${this.phase_}`);
    this.phase_ = 'starting';
    try {
      await Promise.all(this.slots.map((s) => this.fork(s)));
    } catch (err) {
      await this.stop();
      throw err;
    }
    // A stop() while starting wins.
    if (this.phase_ === 'starting') this.phase_ = 'running';
  }

  /**
   * To one worker. `socket`: handed over with it (a tunnel connection). `done`: called once it is
   * written, or with the error (then the socket is still this process's to close); without it, a
   * failure is logged (fork()).
   */
  send(worker: Worker, msg: PrimaryMessage, socket?: Socket, done?: (err: Error | null) => void): void {
    if (worker.isConnected()) worker.send(msg, socket, done);
    else if (done) process.nextTick(done, new Error('the worker is gone'));
  }

  /** To every connected worker (but `except`). */
  broadcast(msg: PrimaryMessage, except?: Worker): void {
    for (const w of this.workers()) if (w !== except) w.send(msg);
  }

  /**
   * Drain: every worker gets SIGTERM (it stops accepting, finishes or cuts its connections,
   * sends its last figures) and this waits until each has exited. No restart from here on.
   */
  async stop(): Promise<void> {
    if (this.phase_ === 'stopped') return;
    this.phase_ = 'stopping';
    const gone: Promise<void>[] = [];
    for (const s of this.slots) {
      clearTimeout(s.restartTimer);
      s.restartTimer = undefined;
      const w = s.worker;
      if (!w || w.isDead()) continue;
      gone.push(new Promise<void>((resolve) => w.once('exit', () => resolve())));
      w.process.kill('SIGTERM');
    }
    await Promise.all(gone);
    this.phase_ = 'stopped';
  }

  private fork(slot: Slot): Promise<void> {
    // Settings are read at each fork; another supervisor in this process may have changed them.
    cluster.schedulingPolicy = cluster.SCHED_NONE; // the kernel spreads accepts; no hop through the primary
    cluster.setupPrimary({ exec: this.o.exec, args: [...(this.o.args ?? [])] });
    const w = cluster.fork();
    slot.worker = w;
    slot.forkedAt = Date.now();
    // A send racing the worker's death (EPIPE, or the channel already closed) with no callback is
    // emitted here: unheard, it would end the primary. The worker's exit is handled below; the
    // message was for a process that is gone.
    w.on('error', (err: Error) => this.o.log.warn({ worker: w.process.pid, err: err.message }, 'message to an ingress worker lost: it is going away'));
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve();
      };
      w.on('message', (raw: unknown, handle: unknown) => {
        const parsed = parseWorkerMessage(raw, handle);
        if (!parsed.ok) {
          closeHandle(handle); // kept, a handle holds its port or connection open in the primary
          this.rejected++;
          this.o.log.warn({ worker: w.process.pid, why: parsed.why }, 'malformed message from an ingress worker dropped');
          return;
        }
        const m = parsed.msg;
        this.o.onMessage?.(w, m);
        if (m.type === 'hopgate:worker:ready') {
          settle();
        } else if (m.type === 'hopgate:worker:failed') settle(new Error(m.error));
      });
      w.on('exit', (code, signal) => {
        if (slot.worker === w) slot.worker = undefined;
        const restartInMs = this.scheduleRestart(slot);
        if (restartInMs !== undefined) this.o.log.error({ worker: w.process.pid, code, signal, restartInMs: Math.round(restartInMs) }, 'ingress worker exited; restarting');
        this.o.onExit?.(w, { code, signal, restartInMs });
        settle(new Error(`ingress worker exited before it was ready (code ${code}, signal ${signal})`));
      });
    });
  }

  /** Replace the slot's worker after its back-off; undefined when it is not replaced. */
  private scheduleRestart(slot: Slot): number | undefined {
    // While starting, a failure fails start() instead: a worker that cannot boot would not boot again.
    if (this.phase_ !== 'running') return undefined;
    if (Date.now() - slot.forkedAt >= (this.o.stableMs ?? 10_000)) slot.attempt = 0;
    const delay = backoffDelay(slot.attempt, this.o.restart ?? DEFAULT_RESTART);
    slot.attempt++;
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.phase_ !== 'running') return;
      this.restarts++;
      // A restarted worker that fails to start exits; its exit schedules the next try.
      this.fork(slot).catch(() => undefined);
    }, delay);
    return delay;
  }
}

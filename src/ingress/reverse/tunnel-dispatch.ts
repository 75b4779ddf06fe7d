/**
 * The tunnel port with several ingress workers (both cluster modes: a YAML
 * file, or the control plane). Left to the kernel (a shared listener), a
 * worker could hold none of an exit's work connections — the exit is down
 * there — and the worker consuming them tended to lose the accept race for
 * the refills. So the primary owns the port and hands each accepted TCP
 * socket, unread, to the worker holding the fewest work connections; TLS
 * terminates in the worker (tunnel-intake.ts), which reports its load.
 *
 * When the port opens (at boot or in a reload) the workers are seated by their
 * answers to a hello. Until every worker asked has answered (or ANSWER_WAIT_MS
 * passed), new connections are held, unread: handed out as they came, an exit
 * dialing in between two answers put its whole pool in the first worker, and a
 * request reaching the other failed at once (no work connection registered there).
 *
 * The workers' reports reach report() from the supervisor, checked against the
 * one IPC message list (processes/ipc-messages.ts); what it sends goes through
 * the supervisor too (WorkerPool).
 */
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../../shared/log.js';
import type { IngressConfig } from '../../shared/schema/ingress-config.js';
import { tunnelListen } from '../../shared/schema/check-reverse-config.js';
import { LateStart } from './late-start.js';
import { boundPort, listenOn } from '../../shared/listen.js';

/** Primary → worker, with the socket as the handle. */
export interface TunnelConnMsg {
  readonly type: 'hopgate:reverse:conn';
}

/**
 * Primary → worker, before its first socket: the TLS session ticket keys all workers share
 * (base64, 48 bytes), so an exit resumes its session whichever worker a connection reaches.
 */
export interface TunnelKeysMsg {
  readonly type: 'hopgate:reverse:keys';
  readonly ticketKeys: string;
}

/**
 * Worker → primary: its load (tunnel-intake.ts), how many sockets it has received
 * so far, whether it takes more (false once its reverse side closed), and for each
 * reverse exit its idle work connections and the requests waiting for one.
 */
export interface TunnelLoadMsg {
  readonly type: 'hopgate:reverse:load';
  readonly load: number;
  readonly received: number;
  readonly open: boolean;
  readonly exits: ReadonlyArray<readonly [id: string, idle: number, waiting: number]>;
}

/**
 * Primary → worker: close one idle work connection of `exit` if you hold at least `min`
 * (another worker has none). The exit refills at once, and the refill goes to the worker
 * with the lowest load: the one short of it.
 */
export interface TunnelReleaseMsg {
  readonly type: 'hopgate:reverse:release';
  readonly exit: string;
  readonly min: number;
}

/**
 * Primary → every worker, when the tunnel port opens: report your load now (a worker
 * that reported before — or while a first start failed — would otherwise stay unseated).
 */
export interface TunnelHelloMsg {
  readonly type: 'hopgate:reverse:hello';
}

interface Seat {
  readonly worker: Worker;
  load: number;
  received: number;
  sent: number;
  /** Sockets handed over whose transfer has not completed, with their source: destroyed if the worker goes. */
  readonly inFlight: Map<Socket, string>;
  /** Its last report per exit: idle work connections and requests waiting. */
  exits: Map<string, { idle: number; waiting: number }>;
}

/**
 * The primary's end of the workers' IPC channel (processes/supervisor.ts): the workers connected
 * now, and typed sends; a socket rides along with a connection, and `done` says whether it was handed over.
 */
export interface WorkerPool {
  workers(): Worker[];
  send(worker: Worker, msg: TunnelConnMsg | TunnelKeysMsg | TunnelHelloMsg | TunnelReleaseMsg, socket?: Socket, done?: (err: Error | null) => void): void;
}

/** One release per exit this often at most: the refill it brings must reach the short worker and be reported first. */
const RELEASE_EVERY_MS = 200;
/** Exits per worker report (the message list's bound: what a broken worker can make the primary keep). */
export const MAX_REPORTED_EXITS = 4096;

/**
 * Node transfers handles one at a time, so a flood of connections to the tunnel port
 * would queue in the primary without bound: past these, new connections are dropped
 * (a real exit's dial backs off and comes again).
 */
const MAX_IN_FLIGHT_PER_WORKER = 256;
/** Logged when the first connection is held for a worker that has not answered (tests wait for it). */
export const HELD_MESSAGE = 'reverse tunnel connections held until every worker has answered';
const MAX_IN_FLIGHT_PER_SOURCE = 32;
/** How long the port waits, once open, for the workers it said hello to; one that has not answered by then is skipped. */
const ANSWER_WAIT_MS = 1000;
/** Connections held meanwhile (paused, counted in their source's in-flight allowance); past this, dropped. */
const MAX_HELD = 256;

export class TunnelDispatcher {
  /** Workers that take sockets (they reported an open intake), by cluster id. */
  private readonly seats = new Map<number, Seat>();
  private turn = 0;
  private readonly ticketKeys = randomBytes(48).toString('base64');
  /** In-flight handoffs by source address (one flooding source cannot fill every worker's queue). */
  private readonly bySource = new Map<string, number>();
  /** Workers said hello to that have not answered yet (cluster ids). */
  private readonly unanswered = new Set<number>();
  private answerTimer: NodeJS.Timeout | undefined;
  /** Connections that came while `unanswered` was not empty, with their source, in arrival order. */
  private readonly held = new Map<Socket, string>();
  /** When a release was last asked for, by exit. */
  private readonly released = new Map<string, number>();
  private recheck: NodeJS.Timeout | undefined;

  private constructor(
    private readonly server: Server,
    private readonly log: Pick<Logger, 'info' | 'warn'>,
    private readonly pool: WorkerPool,
  ) {
    cluster.on('exit', this.onGone);
    cluster.on('disconnect', this.onGone);
    for (const w of pool.workers()) {
      this.unanswered.add(w.id);
      pool.send(w, { type: 'hopgate:reverse:hello' });
    }
    if (this.unanswered.size === 0) return;
    this.answerTimer = setTimeout(() => {
      this.log.warn({ workers: [...this.unanswered] }, 'ingress workers did not answer the reverse tunnel port in time; their share goes to the others');
      this.unanswered.clear();
      this.release();
    }, ANSWER_WAIT_MS);
    this.answerTimer.unref();
  }

  static async listen(host: string, port: number, log: Pick<Logger, 'info' | 'warn'>, pool: WorkerPool): Promise<TunnelDispatcher> {
    // Unread until a worker has it: the worker's TLS socket must see the ClientHello.
    const server = createServer({ pauseOnConnect: true });
    await listenOn(server, host, port);
    const d = new TunnelDispatcher(server, log, pool);
    server.on('connection', d.onConnection);
    return d;
  }

  get port(): number | undefined {
    return boundPort(this.server);
  }

  /** A worker's load report (well formed: the supervisor checked it). */
  report(worker: Worker, r: TunnelLoadMsg): void {
    if (!r.open) {
      this.seats.delete(worker.id);
      return this.answered(worker.id);
    }
    let seat = this.seats.get(worker.id);
    // A new seat counts from what the worker has received: nothing is in flight to it yet.
    if (!seat) {
      this.seats.set(worker.id, (seat = { worker, load: 0, received: r.received, sent: r.received, inFlight: new Map(), exits: new Map() }));
      this.pool.send(worker, { type: 'hopgate:reverse:keys', ticketKeys: this.ticketKeys }); // IPC keeps order: before any socket
    }
    seat.load = r.load;
    seat.received = r.received;
    seat.exits = new Map(r.exits.map(([id, idle, waiting]) => [id, { idle, waiting }]));
    this.answered(worker.id);
    this.rebalance();
  }

  /**
   * Balancing on the reports is not enough: they can be stale when a refill arrives (a
   * worker's "I used one" still on its way), and a tie then sent the refill elsewhere — a
   * worker left with no work connection of an exit gets none back until another worker
   * uses one, and its requests for it failed meanwhile. So when a worker has no idle
   * connection of an exit, a worker with a spare one (two or more idle, or any when the
   * short worker has requests waiting) is asked to close one: the exit refills at once,
   * and the refill goes to the lowest load, the short worker (its waiting requests count
   * against its load). The holder checks its own count before closing (registry.ts).
   */
  private rebalance(): void {
    const now = Date.now();
    if (this.released.size > MAX_REPORTED_EXITS) this.released.clear();
    const ids = new Set<string>();
    for (const s of this.seats.values()) for (const id of s.exits.keys()) ids.add(id);
    for (const id of ids) {
      let waiting = false;
      let short = false;
      let donor: { seat: Seat; idle: number } | undefined;
      for (const s of this.seats.values()) {
        if (!s.worker.isConnected()) continue;
        const e = s.exits.get(id);
        if (!e) continue;
        if (e.idle === 0) {
          short = true;
          waiting ||= e.waiting > 0;
        } else if (!donor || e.idle > donor.idle) donor = { seat: s, idle: e.idle };
      }
      if (!short || !donor) continue;
      const min = waiting ? 1 : 2;
      if (donor.idle < min) continue;
      const since = now - (this.released.get(id) ?? 0);
      if (since < RELEASE_EVERY_MS) {
        // Too soon after the last one: look again then (no report may come meanwhile).
        this.recheck ??= setTimeout(() => {
          this.recheck = undefined;
          this.rebalance();
        }, RELEASE_EVERY_MS - since).unref();
        continue;
      }
      this.released.set(id, now);
      this.pool.send(donor.seat.worker, { type: 'hopgate:reverse:release', exit: id, min }, undefined, () => undefined);
    }
  }

  private readonly onGone = (worker: Worker): void => {
    const seat = this.seats.get(worker.id);
    this.seats.delete(worker.id);
    // Node drops a dead worker's queued handles without calling back: close them here.
    for (const socket of [...(seat?.inFlight.keys() ?? [])]) {
      this.settle(seat!, socket);
      socket.destroy();
    }
    this.answered(worker.id); // it will not answer now
  };

  /** `id` answered the hello (or is gone); the last one releases the held connections. */
  private answered(id: number): void {
    if (this.unanswered.delete(id) && this.unanswered.size === 0) this.release();
  }

  /** Hand out the held connections in arrival order (the wait is over). */
  private release(): void {
    clearTimeout(this.answerTimer);
    this.answerTimer = undefined;
    for (const [socket, source] of [...this.held]) {
      this.held.delete(socket);
      this.unclaim(source);
      if (!socket.destroyed) this.dispatch(socket, source);
    }
  }

  /** A handoff is over (done, failed, or its worker gone). */
  private settle(seat: Seat, socket: Socket): void {
    const source = seat.inFlight.get(socket);
    if (source === undefined || !seat.inFlight.delete(socket)) return;
    this.unclaim(source);
  }

  /** One connection from `source` is no longer held or in flight. */
  private unclaim(source: string): void {
    const left = (this.bySource.get(source) ?? 1) - 1;
    if (left > 0) this.bySource.set(source, left);
    else this.bySource.delete(source);
  }

  /**
   * The worker's last report (work connections registering or idle) plus the sockets
   * from `source` still on their way to it. Sockets from other sources say nothing about
   * this exit's pool: counting them let a flood of silent connections from elsewhere, in
   * transit or stuck in their handshakes, steer a refill away from the worker that had
   * just used its work connection — whose next request then waited in vain.
   */
  private estimate(s: Seat, source: string): number {
    let n = s.load;
    for (const from of s.inFlight.values()) if (from === source) n++;
    return n;
  }

  /** The connected worker with the lowest estimate for a socket from `source`; ties rotate. */
  private pick(source: string): Seat | undefined {
    const seats = [...this.seats.values()];
    let best: Seat | undefined;
    for (let i = 0; i < seats.length; i++) {
      const s = seats[(this.turn + i) % seats.length]!;
      if (!s.worker.isConnected() || s.inFlight.size >= MAX_IN_FLIGHT_PER_WORKER) continue;
      if (!best || this.estimate(s, source) < this.estimate(best, source)) best = s;
    }
    this.turn++;
    return best;
  }

  private readonly onConnection = (socket: Socket): void => {
    socket.on('error', () => undefined);
    const source = socket.remoteAddress ?? '';
    if (this.unanswered.size === 0) return this.dispatch(socket, source);
    // A worker has not answered yet: hold it (bounded, and per source as handoffs are).
    const fromSource = this.bySource.get(source) ?? 0;
    if (this.held.size >= MAX_HELD || fromSource >= MAX_IN_FLIGHT_PER_SOURCE) return void socket.destroy();
    if (this.held.size === 0) this.log.info({ waiting: [...this.unanswered] }, `${HELD_MESSAGE}; held at most ${ANSWER_WAIT_MS} ms`);
    this.held.set(socket, source);
    this.bySource.set(source, fromSource + 1);
    socket.once('close', () => this.held.delete(socket) && this.unclaim(source)); // destroyed meanwhile (close())
  };

  private dispatch(socket: Socket, source: string): void {
    const fromSource = this.bySource.get(source) ?? 0;
    const seat = fromSource < MAX_IN_FLIGHT_PER_SOURCE ? this.pick(source) : undefined;
    if (!seat) return void socket.destroy(); // none seated, or every queue full: the exit dials again
    seat.sent++;
    seat.inFlight.set(socket, source);
    this.bySource.set(source, fromSource + 1);
    this.pool.send(seat.worker, { type: 'hopgate:reverse:conn' }, socket, (err) => {
      this.settle(seat, socket);
      if (!err) return;
      seat.sent--;
      socket.destroy();
    });
  }

  close(): void {
    cluster.off('exit', this.onGone);
    cluster.off('disconnect', this.onGone);
    clearTimeout(this.answerTimer);
    clearTimeout(this.recheck);
    for (const seat of this.seats.values()) for (const socket of seat.inFlight.keys()) socket.destroy();
    for (const socket of this.held.keys()) socket.destroy();
    this.held.clear();
    this.unanswered.clear();
    this.seats.clear();
    this.server.close();
  }
}

/** The primary's tunnel port for a cluster: opened by the first configuration with reverse exits, at boot or in a reload. */
export function primaryTunnel(log: Logger, pool: WorkerPool): LateStart<TunnelDispatcher> {
  const open = (config: IngressConfig): Promise<TunnelDispatcher> => {
    const { host, port } = tunnelListen(config);
    return TunnelDispatcher.listen(host, port, log, pool);
  };
  return new LateStart(open, log, 'reverse tunnel port', true);
}

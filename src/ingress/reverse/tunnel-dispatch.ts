/**
 * The tunnel port with several ingress workers (both cluster modes: a YAML
 * file, or the control plane). Left to the kernel (a shared listener), a
 * worker could hold none of an exit's work connections — the exit is down
 * there — and the worker consuming them tended to lose the accept race for
 * the refills. So the primary owns the port and hands each accepted TCP
 * socket, unread, to the worker holding the fewest work connections; TLS
 * terminates in the worker (tunnel-intake.ts), which reports its load.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../../shared/log.js';
import type { IngressConfig } from '../../shared/schema/ingress-config.js';
import { tunnelListen } from './check-config.js';
import { LateStart } from './late-start.js';

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
 * so far, and whether it takes more (false once its reverse side closed).
 */
export interface TunnelLoadMsg {
  readonly type: 'hopgate:reverse:load';
  readonly load: number;
  readonly received: number;
  readonly open: boolean;
}

interface Seat {
  readonly worker: Worker;
  load: number;
  received: number;
  sent: number;
}

export class TunnelDispatcher {
  /** Workers that take sockets (they reported an open intake), by cluster id. */
  private readonly seats = new Map<number, Seat>();
  private turn = 0;
  private readonly ticketKeys = randomBytes(48).toString('base64');
  /** Sockets destroyed because no worker took sockets. */
  dropped = 0;

  private constructor(private readonly server: Server) {
    cluster.on('message', this.onMessage);
    cluster.on('exit', this.onGone);
    cluster.on('disconnect', this.onGone);
  }

  static async listen(host: string, port: number): Promise<TunnelDispatcher> {
    // Unread until a worker has it: the worker's TLS socket must see the ClientHello.
    const server = createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, backlog: 4096 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const d = new TunnelDispatcher(server);
    server.on('connection', d.onConnection);
    return d;
  }

  get port(): number | undefined {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : undefined;
  }

  private readonly onMessage = (worker: Worker, m: TunnelLoadMsg | { type?: unknown } | undefined): void => {
    if (m?.type !== 'hopgate:reverse:load') return;
    const r = m as TunnelLoadMsg;
    if (!r.open) return void this.seats.delete(worker.id);
    let seat = this.seats.get(worker.id);
    // A new seat counts from what the worker has received: nothing is in flight to it yet.
    if (!seat) {
      this.seats.set(worker.id, (seat = { worker, load: 0, received: r.received, sent: r.received }));
      worker.send({ type: 'hopgate:reverse:keys', ticketKeys: this.ticketKeys } satisfies TunnelKeysMsg); // IPC keeps order: before any socket
    }
    seat.load = r.load;
    seat.received = r.received;
  };

  private readonly onGone = (worker: Worker): void => void this.seats.delete(worker.id);

  /** The worker's last report plus the sockets sent since it was written. */
  private estimate(s: Seat): number {
    return s.load + (s.sent - s.received);
  }

  /** The connected worker with the lowest estimate; ties rotate. */
  private pick(): Seat | undefined {
    const seats = [...this.seats.values()];
    let best: Seat | undefined;
    for (let i = 0; i < seats.length; i++) {
      const s = seats[(this.turn + i) % seats.length]!;
      if (s.worker.isConnected() && (!best || this.estimate(s) < this.estimate(best))) best = s;
    }
    this.turn++;
    return best;
  }

  private readonly onConnection = (socket: Socket): void => {
    socket.on('error', () => undefined);
    const seat = this.pick();
    if (!seat) {
      this.dropped++;
      return void socket.destroy();
    }
    seat.sent++;
    seat.worker.send({ type: 'hopgate:reverse:conn' } satisfies TunnelConnMsg, socket, (err) => {
      if (!err) return;
      seat.sent--;
      socket.destroy();
    });
  };

  close(): void {
    cluster.off('message', this.onMessage);
    cluster.off('exit', this.onGone);
    cluster.off('disconnect', this.onGone);
    this.seats.clear();
    this.server.close();
  }
}

/** The primary's tunnel port for a cluster: opened by the first configuration with reverse exits, at boot or in a reload. */
export function primaryTunnel(log: Logger): LateStart<TunnelDispatcher> {
  const open = (config: IngressConfig): Promise<TunnelDispatcher> => {
    const { host, port } = tunnelListen(config);
    return TunnelDispatcher.listen(host, port);
  };
  return new LateStart(open, log, 'reverse tunnel port', true);
}

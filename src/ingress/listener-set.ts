/** One net.Server per ingress port; the port a client used is part of its routing request. */
import { createServer, type Server } from 'node:net';
import type { IngressRuntime } from './runtime.js';
import { handleConnection } from './connection-entry.js';
import { boundPort, listenOn } from '../shared/listen.js';

export class ListenerSet {
  private readonly servers: Server[] = [];

  constructor(private readonly rt: IngressRuntime) {}

  async listen(host: string, first: number, last: number): Promise<void> {
    const tasks: Promise<void>[] = [];
    for (let port = first; port <= last; port++) {
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: false, noDelay: true }, (socket) =>
        handleConnection(this.rt, socket, port),
      );
      this.servers.push(server);
      tasks.push(listenOn(server, host, port));
    }
    try {
      await Promise.all(tasks);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** The ports actually bound (useful when listening on port 0 in tests). */
  ports(): number[] {
    return this.servers.map((s) => boundPort(s) ?? 0);
  }

  /**
   * Stop accepting; live connections are left to the caller's drain.
   * (server.close's callback waits for every connection, so it is not awaited.)
   */
  close(): void {
    for (const s of this.servers) if (s.listening) s.close();
  }
}

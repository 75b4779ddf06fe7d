/**
 * A TCP forwarder the harness owns between the control plane and the
 * machine's PostgreSQL: it listens on a Unix socket (reachable from any
 * network namespace, as <dir>/.s.PGSQL.5432, which libpq-style `host=<dir>`
 * finds) and forwards to 127.0.0.1:5432 in the root namespace. cut() resets
 * every open connection and refuses new ones until restore(): a database
 * outage without touching the shared server.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { rmSync } from 'node:fs';

export class PgForwarder {
  private readonly server: Server;
  private readonly open = new Set<Socket>();
  private down = false;
  readonly socketPath: string;

  constructor(readonly dir: string, private readonly upstream = { host: '127.0.0.1', port: 5432 }) {
    this.socketPath = join(dir, '.s.PGSQL.5432');
    this.server = createServer((client) => this.accept(client));
  }

  async listen(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    this.server.listen(this.socketPath);
    await once(this.server, 'listening');
  }

  private accept(client: Socket): void {
    if (this.down) {
      client.destroy();
      return;
    }
    const up = connect(this.upstream);
    for (const s of [client, up]) {
      this.open.add(s);
      s.on('error', () => undefined);
      s.once('close', () => {
        this.open.delete(s);
        client.destroy();
        up.destroy();
      });
    }
    client.pipe(up);
    up.pipe(client);
  }

  cut(): void {
    this.down = true;
    for (const s of this.open) s.destroy();
  }

  restore(): void {
    this.down = false;
  }

  close(): void {
    this.cut();
    this.server.close();
  }
}

/** Opening a server's port, and reading which one it got: one way for every listener of every node. */
import type { Server } from 'node:net';

/** Listen on host:port; rejects with the bind error (a taken port) instead of emitting it. */
export function listenOn(server: Server, host: string, port: number, backlog = 4096): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The port a listening server is bound to (the real one when it asked for 0), else undefined. */
export function boundPort(server: Server | undefined): number | undefined {
  const a = server?.address();
  return typeof a === 'object' && a ? a.port : undefined;
}

/**
 * Benchmark targets, in their own process so they do not share a CPU queue
 * with the proxy or the load generator: an echo server and a bulk source that
 * streams until the client goes away. Prints {"echo":[ports],"source":port}.
 */
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

const CHUNK = Buffer.alloc(64 * 1024, 0x5a);

function serve(onConn: (s: Socket) => void): Promise<number> {
  const server = createServer({ noDelay: true }, (s) => {
    s.on('error', () => undefined);
    onConn(s);
  });
  return new Promise((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => resolve((server.address() as AddressInfo).port)));
}

// Several echo ports: connections spread over more 4-tuples, so TIME_WAIT never exhausts the ephemeral range.
const echo = await Promise.all(Array.from({ length: 8 }, () => serve((s) => s.pipe(s))));
const source = await serve((s) => {
  const pump = (): void => {
    while (!s.destroyed && s.write(CHUNK));
  };
  s.on('drain', pump);
  s.resume(); // discard anything sent
  pump();
});
process.stdout.write(JSON.stringify({ echo, source }) + '\n');
process.on('SIGTERM', () => process.exit(0));

/** A tiny "who am I" HTTP server for the demo: it answers with the address the request came from. */
import { createServer, type Server } from 'node:http';

export async function startWhoami(host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const from = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '?';
    const body = JSON.stringify({ youCameFrom: from, method: req.method, path: req.url }) + '\n';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}

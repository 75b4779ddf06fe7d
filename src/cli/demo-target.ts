/** A tiny "who am I" HTTP server for the demo: it answers with the address the request came from. */
import { createServer, type Server } from 'node:http';
import { listenOn } from '../shared/listen.js';

export async function startWhoami(host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const from = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '?';
    const body = JSON.stringify({ youCameFrom: from, method: req.method, path: req.url }) + '\n';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  await listenOn(server, host, port, 511);
  return server;
}

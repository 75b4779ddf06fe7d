/** What the clients reach through the network: an HTTP server answering /bytes/N with N bytes, and a UDP echo. */
import { createServer, type Server } from 'node:http';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';

export const MAX_BYTES = 10_000_000;

export async function startBytesServer(host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const m = /^\/bytes\/(\d+)$/.exec(req.url ?? '');
    const n = m ? Number(m[1]) : -1;
    if (n < 0 || n > MAX_BYTES) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n), connection: 'close' });
    res.end(Buffer.alloc(n, 0x61));
  });
  server.keepAliveTimeout = 1000;
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

export async function startUdpEcho(host: string, port: number): Promise<UdpSocket> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
  socket.bind(port, host);
  await once(socket, 'listening');
  return socket;
}

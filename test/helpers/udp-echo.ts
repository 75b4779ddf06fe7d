/** A UDP target for tests: answers `echo:` + each datagram and notes who sent it. */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';

export async function udpEchoTarget(host: string): Promise<{ socket: UdpSocket; port: number; seen: RemoteInfo[]; close(): void }> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const seen: RemoteInfo[] = [];
  socket.on('message', (msg, rinfo) => {
    seen.push(rinfo);
    socket.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address);
  });
  socket.bind(0, host);
  await once(socket, 'listening');
  return { socket, port: socket.address().port, seen, close: () => socket.close() };
}

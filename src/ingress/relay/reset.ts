/**
 * Abortive close: a TCP reset tells the peer the stream was cut, where a FIN
 * would say it ended (a close-delimited body would look complete). Only a
 * plain TCP socket can send one; anything else (a TLS socket, a socket
 * already gone) is destroyed, which is the best it can do.
 */
import type { Socket } from 'node:net';

export function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy(); // not a TCP handle (TLS, a stream wrapper)
  }
}

/**
 * The end of a client connection that gets no relay (an error reply, the last HTTP response):
 * our FIN after `last`, whatever the client still sends is drained, and the socket is destroyed
 * after a short grace even if the client's FIN never comes or is never read (a paused socket
 * never emits 'end'). Without this the connection, and its session, stayed until an idle timeout.
 */
import type { Socket } from 'node:net';

/** Long enough for the client to read the reply and close first (its FIN, not our reset). */
export const CLOSE_GRACE_MS = 2000;

export function endClient(client: Socket, last?: Buffer | string): void {
  if (last === undefined) client.end();
  else client.end(last);
  client.resume();
  setTimeout(destroy, CLOSE_GRACE_MS, client).unref();
}

function destroy(client: Socket): void {
  client.destroy();
}

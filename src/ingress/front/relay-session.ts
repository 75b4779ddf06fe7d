/** The common tail of every CONNECT-style front: hand leftovers over and relay until both sides close. */
import type { Socket } from 'node:net';
import type { ByteReader } from '../byte-reader.js';
import { handshakeDone } from '../pipeline-stages.js';
import { relay } from '../relay/relay.js';
import { resetSocket } from '../relay/reset.js';
import type { Session } from '../session.js';

export function relayToClient(session: Session, reader: ByteReader, upstream: Socket): void {
  handshakeDone(session);
  const client = reader.socket;
  const early = reader.detach();
  if (early.length > 0) {
    session.counters.up += early.length;
    session.limits?.usage?.add(early.length);
    upstream.write(early);
  }
  // Cut while connecting (quota, or the client left): a reset, not a FIN, which would tell the exit
  // the request is complete and have it wait on the target for an answer nobody will read.
  if (client.destroyed) return void resetSocket(upstream);
  session.result = 'ok';
  const handle = relay(client, upstream, session.counters, session.snapshot.config.limits.idleTimeoutMs, (how) => {
    if (session.result !== 'ok') return; // ended for a reason already recorded (quota cut-off)
    if (how === 'idle') session.resultMessage = 'idle timeout';
    else if (how !== 'closed') session.resultMessage = how;
  }, session.limits, session.socket);
  session.stopper = handle;
}

/** SOCKS4 / SOCKS4a front. The userid is the username; `user:password` carries a password. */
import type { Socket } from 'node:net';
import { isProxyError, ProxyError, REPLIES } from '../../shared/errors.js';
import { CD, encodeSocks4Reply, parseSocks4Request, splitSocks4Userid } from '../../protocol/socks4/codec.js';
import type { ByteReader } from '../byte-reader.js';
import { authorize, openUpstream } from '../pipeline-stages.js';
import type { IngressRuntime } from '../runtime.js';
import type { Session } from '../session.js';
import { relayToClient } from './relay-session.js';
import { endClient } from './end-client.js';

export async function serveSocks4(rt: IngressRuntime, session: Session, reader: ByteReader): Promise<void> {
  const client = reader.socket;
  let upstream: Socket;
  try {
    const req = await reader.read(parseSocks4Request);
    const { username, password } = splitSocks4Userid(req.userid);
    await authorize(rt, session, username.length > 0 ? { username, password } : undefined);
    if (req.cmd !== CD.CONNECT) throw new ProxyError('COMMAND_UNSUPPORTED', `SOCKS4 command ${req.cmd} not supported`);
    upstream = await openUpstream(rt, session, req.target);
  } catch (err) {
    const code = isProxyError(err) ? err.code : 'INTERNAL';
    session.result = code;
    session.resultMessage = (err as Error).message;
    return endClient(client, encodeSocks4Reply(REPLIES[code].socks4));
  }
  client.write(encodeSocks4Reply(CD.GRANTED, { host: upstream.localAddress ?? '0.0.0.0', port: upstream.localPort ?? 0 }));
  relayToClient(session, reader, upstream);
}

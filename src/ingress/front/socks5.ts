/** SOCKS5 front: greeting → method → RFC 1929 auth → request → reply → relay. */
import type { Socket } from 'node:net';
import { AUTH_PHASE_CODES, isProxyError, ProxyError, REPLIES } from '../../shared/errors.js';
import {
  CMD,
  encodeAuthStatus,
  encodeMethodChoice,
  encodeReply,
  METHOD,
  parseGreeting,
  parseRequest,
  parseUserPass,
  REP,
} from '../../protocol/socks5/codec.js';
import type { ByteReader } from '../byte-reader.js';
import { authorize, handshakeDone, openUpstream } from '../pipeline-stages.js';
import type { IngressRuntime } from '../runtime.js';
import type { Session } from '../session.js';
import { relayToClient } from './relay-session.js';
import { serveUdpAssociate } from './udp-associate.js';
import { endClient } from './end-client.js';

export async function serveSocks5(rt: IngressRuntime, session: Session, reader: ByteReader): Promise<void> {
  const client = reader.socket;
  const greeting = await reader.read(parseGreeting);
  try {
    if (greeting.methods.includes(METHOD.USER_PASS)) {
      client.write(encodeMethodChoice(METHOD.USER_PASS));
      const cred = await reader.read(parseUserPass);
      await authorize(rt, session, cred);
      client.write(encodeAuthStatus(true));
    } else if (greeting.methods.includes(METHOD.NO_AUTH)) {
      await authorize(rt, session, undefined);
      client.write(encodeMethodChoice(METHOD.NO_AUTH));
    } else {
      throw new ProxyError('AUTH_REQUIRED', 'no acceptable authentication method offered');
    }
  } catch (err) {
    const code = isProxyError(err) ? err.code : 'INTERNAL';
    session.result = code;
    session.resultMessage = (err as Error).message;
    const usedUserPass = greeting.methods.includes(METHOD.USER_PASS);
    // An authentication refusal is RFC 1929 status 1, or method 0xFF when no method was chosen.
    if (AUTH_PHASE_CODES.has(code) || code === 'BAD_REQUEST' || code === 'RATE_LIMITED') {
      return endClient(client, usedUserPass ? encodeAuthStatus(false) : encodeMethodChoice(METHOD.NO_ACCEPTABLE));
    }
    // Refused after authenticating (e.g. the user's connection limit): answer the request with the code.
    client.write(usedUserPass ? encodeAuthStatus(true) : encodeMethodChoice(METHOD.NO_AUTH));
    await reader.read(parseRequest).catch(() => undefined);
    return endClient(client, encodeReply(REPLIES[code].socks5));
  }

  let request;
  try {
    request = await reader.read(parseRequest);
  } catch (err) {
    return refuse(session, client, err);
  }
  if (request.cmd === CMD.UDP_ASSOCIATE || request.cmd === CMD.UDP_IN_TCP) {
    handshakeDone(session);
    return serveUdpAssociate(rt, session, reader, request.target, request.cmd === CMD.UDP_IN_TCP);
  }
  if (request.cmd !== CMD.CONNECT) {
    return refuse(session, client, new ProxyError('COMMAND_UNSUPPORTED', `command ${request.cmd} not supported`));
  }
  let upstream: Socket;
  try {
    upstream = await openUpstream(rt, session, request.target);
  } catch (err) {
    return refuse(session, client, err);
  }
  const bind = { host: upstream.localAddress ?? '0.0.0.0', port: upstream.localPort ?? 0 };
  client.write(encodeReply(REP.SUCCEEDED, bind));
  relayToClient(session, reader, upstream);
}

function refuse(session: Session, client: Socket, err: unknown): void {
  const code = isProxyError(err) ? err.code : 'INTERNAL';
  session.result = code;
  session.resultMessage = (err as Error).message;
  endClient(client, encodeReply(REPLIES[code].socks5));
}

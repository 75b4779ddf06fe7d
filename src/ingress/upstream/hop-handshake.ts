/**
 * Client side of one hop: on an open socket to a proxy, ask it (SOCKS5 with
 * optional RFC 1929, or HTTP CONNECT with optional Basic) to connect onwards,
 * and turn its answer into our ErrorCode so the client hears the hop's exact
 * failure in its own protocol. Bytes the hop sent after its reply are pushed
 * back into the socket, never lost.
 */
import type { Socket } from 'node:net';
import { ProxyError, type ErrorCode } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import { unmapIPv4 } from '../../shared/net-addr.js';
import { formatTarget, type TargetAddress } from '../../protocol/address.js';
import { CMD, encodeRequest, encodeUserPass, METHOD, parseReply, REP, type Reply } from '../../protocol/socks5/codec.js';
import { parseResponseHead } from '../../protocol/http/response-head.js';
import { MORE, fail, ok, type Parse } from '../../protocol/parse.js';
import { ByteReader } from '../byte-reader.js';

/** `hopgate`: SOCKS5 to a hopgate exit, which reads pipelined handshakes (one round trip instead of three). */
export type HopKind = 'socks5' | 'hopgate' | 'http';

export interface HopCredentials {
  readonly username: string;
  readonly password: string;
}

/** SOCKS5 REP from a hop → our code (RFC 1928 §6). */
export function codeFromSocks5Rep(rep: number): ErrorCode {
  switch (rep) {
    case REP.NOT_ALLOWED:
      return 'TARGET_FORBIDDEN';
    case REP.NET_UNREACHABLE:
      return 'NET_UNREACHABLE';
    case REP.HOST_UNREACHABLE:
      return 'HOST_UNREACHABLE';
    case REP.CONN_REFUSED:
      return 'CONN_REFUSED';
    case REP.TTL_EXPIRED:
      return 'TIMEOUT';
    case REP.CMD_UNSUPPORTED:
      return 'COMMAND_UNSUPPORTED';
    case REP.ATYP_UNSUPPORTED:
      // Our request is well formed: the exit cannot reach that kind of address (an IPv6 target, no IPv6 egress).
      return 'FAMILY_UNSUPPORTED';
    default:
      return 'EXIT_UNREACHABLE';
  }
}

/** HTTP CONNECT status from a hop → our code. */
export function codeFromConnectStatus(status: number): ErrorCode {
  if (status === 403) return 'TARGET_FORBIDDEN';
  if (status === 504) return 'TIMEOUT';
  if (status === 407) return 'EXIT_UNREACHABLE'; // our credentials for the hop are wrong: an operator problem
  return status >= 500 ? 'HOST_UNREACHABLE' : 'EXIT_UNREACHABLE';
}

const methodChoice = (b: Buffer): Parse<number> =>
  b.length < 2 ? MORE : b[0] !== 5 ? fail('BAD_REQUEST', 'hop is not a SOCKS5 server') : ok(b[1]!, 2);
const authStatus = (b: Buffer): Parse<number> => (b.length < 2 ? MORE : ok(b[1]!, 2));

/** Greeting and credentials; with `pipelined`, `request` goes in the same write. */
async function socks5Greet(reader: ByteReader, hop: string, cred: HopCredentials | undefined, pipelined: Buffer | undefined): Promise<void> {
  const s = reader.socket;
  if (pipelined) {
    // Greeting, credentials and request in one write; the answers are read in order as usual.
    const greeting = Buffer.from(cred ? [5, 1, METHOD.USER_PASS] : [5, 1, METHOD.NO_AUTH]);
    s.write(cred ? Buffer.concat([greeting, encodeUserPass(cred.username, cred.password), pipelined]) : Buffer.concat([greeting, pipelined]));
  } else {
    s.write(Buffer.from(cred ? [5, 2, METHOD.NO_AUTH, METHOD.USER_PASS] : [5, 1, METHOD.NO_AUTH]));
  }
  const method = await reader.read(methodChoice, 'BAD_REQUEST', `hop ${hop} closed during greeting`);
  if (method === METHOD.USER_PASS && cred) {
    if (!pipelined) s.write(encodeUserPass(cred.username, cred.password));
    if ((await reader.read(authStatus, 'BAD_REQUEST', `hop ${hop} closed during auth`)) !== 0) {
      throw new ProxyError('EXIT_UNREACHABLE', `hop ${hop} refused our credentials`);
    }
  } else if (method !== METHOD.NO_AUTH) {
    throw new ProxyError('EXIT_UNREACHABLE', `hop ${hop} accepts none of our auth methods`);
  }
}

async function socks5(reader: ByteReader, hop: string, target: TargetAddress, cred: HopCredentials | undefined, pipelined: boolean, cmd: number = CMD.CONNECT): Promise<Reply> {
  const s = reader.socket;
  const request = encodeRequest(cmd, target.host, target.port);
  await socks5Greet(reader, hop, cred, pipelined ? request : undefined);
  if (!pipelined) s.write(request);
  const reply = await reader.read(parseReply, 'BAD_REQUEST', `hop ${hop} closed before replying`);
  if (reply.rep !== REP.SUCCEEDED) {
    throw new ProxyError(codeFromSocks5Rep(reply.rep), `${hop}: SOCKS5 reply ${reply.rep} for ${formatTarget(target)}`);
  }
  return reply;
}

async function httpConnect(reader: ByteReader, hop: string, target: TargetAddress, cred: HopCredentials | undefined): Promise<void> {
  const authority = target.kind === 'ipv6' ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
  let head = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
  if (cred) head += `Proxy-Authorization: Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}\r\n`;
  reader.socket.write(head + '\r\n', 'latin1');
  const res = await reader.read((b) => parseResponseHead(b, { maxHeadBytes: LIMITS.maxHeadBytes, maxHeaderCount: LIMITS.maxHeaderCount }), 'BAD_REQUEST', `hop ${hop} closed before answering CONNECT`);
  if (res.status < 200 || res.status > 299) {
    throw new ProxyError(codeFromConnectStatus(res.status), `${hop}: CONNECT ${authority} answered ${res.status} ${res.reason}`);
  }
}

/** A hop that breaks the protocol (garbage, early close) is an unreachable exit, not the client's bad request. */
function asHopFailure(err: unknown): unknown {
  return err instanceof ProxyError && err.code === 'BAD_REQUEST' ? new ProxyError('EXIT_UNREACHABLE', err.message, { cause: err }) : err;
}

/** Run one hop's handshake on `socket` towards `target`; resolves when bytes may flow. */
export async function handshakeHop(socket: Socket, kind: HopKind, hop: string, target: TargetAddress, cred?: HopCredentials): Promise<void> {
  const reader = new ByteReader(socket, Buffer.alloc(0), LIMITS.maxHeadBytes);
  try {
    if (kind === 'http') await httpConnect(reader, hop, target, cred);
    else await socks5(reader, hop, target, cred, kind === 'hopgate');
  } catch (err) {
    reader.detach();
    throw asHopFailure(err);
  }
  const early = reader.detach();
  if (early.length > 0) socket.unshift(early);
}

/**
 * hopgate's UDP_IN_TCP at the last hop (a hopgate exit): afterwards the socket
 * carries framed datagrams both ways (protocol/socks5/udp-in-tcp.ts).
 */
export async function udpInTcpAtHop(socket: Socket, kind: HopKind, hop: string, cred?: HopCredentials): Promise<void> {
  if (kind !== 'hopgate') throw new ProxyError('COMMAND_UNSUPPORTED', `${hop} is not a hopgate exit: no UDP across a chained route`);
  const reader = new ByteReader(socket, Buffer.alloc(0), LIMITS.maxHeadBytes);
  try {
    await socks5(reader, hop, { host: '0.0.0.0', port: 0, kind: 'ipv4' }, cred, true, CMD.UDP_IN_TCP);
  } catch (err) {
    reader.detach();
    throw asHopFailure(err);
  }
  const early = reader.detach();
  if (early.length > 0) socket.unshift(early);
}

/**
 * Health probe of a hop: a SOCKS5 hop must greet and take our credentials; an
 * HTTP hop only has to be connected. Asks for nothing onwards.
 */
export async function greetHop(socket: Socket, kind: HopKind, hop: string, cred?: HopCredentials): Promise<void> {
  if (kind === 'http') return;
  const reader = new ByteReader(socket, Buffer.alloc(0), LIMITS.maxHeadBytes);
  try {
    await socks5Greet(reader, hop, cred, undefined);
  } catch (err) {
    throw asHopFailure(err);
  } finally {
    reader.detach();
  }
}

/**
 * SOCKS5 UDP ASSOCIATE at a hop (the control connection stays open for the
 * association's life). Resolves to the hop's UDP relay address.
 */
export async function associateUdpAtHop(socket: Socket, kind: HopKind, hop: string, cred?: HopCredentials): Promise<{ host: string; port: number }> {
  if (kind === 'http') throw new ProxyError('COMMAND_UNSUPPORTED', `${hop} is an HTTP proxy: no UDP`);
  const reader = new ByteReader(socket, Buffer.alloc(0), LIMITS.maxHeadBytes);
  try {
    const reply = await socks5(reader, hop, { host: '0.0.0.0', port: 0, kind: 'ipv4' }, cred, kind === 'hopgate', CMD.UDP_ASSOCIATE);
    // An unspecified bind address means "the address you reached me on".
    const host = reply.bind.host === '0.0.0.0' || reply.bind.host === '::' ? (socket.remoteAddress ?? '') : reply.bind.host;
    return { host: unmapIPv4(host), port: reply.bind.port };
  } catch (err) {
    throw asHopFailure(err);
  } finally {
    reader.detach();
  }
}

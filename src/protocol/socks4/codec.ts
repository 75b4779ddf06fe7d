/**
 * SOCKS4 and SOCKS4a: pure parser and reply encoder.
 * VN(1)=4 CD(1) DSTPORT(2) DSTIP(4) USERID NUL [HOST NUL when DSTIP is 0.0.0.x, x≠0].
 */
import { isIPv6 } from 'node:net';
import { fail, MORE, ok, type Parse } from '../parse.js';
import { isValidDomain, type TargetAddress } from '../address.js';
import { strictUtf8 } from '../strict-utf8.js';

export const SOCKS4 = 0x04;
export const CD = Object.freeze({ CONNECT: 0x01, BIND: 0x02, GRANTED: 0x5a, REJECTED: 0x5b });
const MAX_FIELD = 255;

export interface Socks4Request {
  readonly cmd: number;
  readonly target: TargetAddress;
  readonly userid: string;
}

export function parseSocks4Request(buf: Buffer): Parse<Socks4Request> {
  if (buf.length < 9) return MORE;
  if (buf[0] !== SOCKS4) return fail('BAD_REQUEST', `not SOCKS4 (version ${buf[0]})`);
  const cmd = buf[1]!;
  const port = buf.readUInt16BE(2);
  const uidEnd = buf.indexOf(0, 8);
  if (uidEnd < 0) return buf.length - 8 > MAX_FIELD ? fail('BAD_REQUEST', 'userid too long') : MORE;
  if (uidEnd - 8 > MAX_FIELD) return fail('BAD_REQUEST', 'userid too long');
  const userid = strictUtf8(buf.subarray(8, uidEnd));
  if (userid === undefined) return fail('AUTH_FAILED', 'userid is not valid UTF-8');
  const isSocks4a = buf[4] === 0 && buf[5] === 0 && buf[6] === 0 && buf[7] !== 0;
  if (!isSocks4a) {
    const host = `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`;
    return ok({ cmd, userid, target: { host, port, kind: 'ipv4' } }, uidEnd + 1);
  }
  const hostStart = uidEnd + 1;
  const hostEnd = buf.indexOf(0, hostStart);
  if (hostEnd < 0) return buf.length - hostStart > MAX_FIELD ? fail('BAD_REQUEST', 'host name too long') : MORE;
  if (hostEnd - hostStart > MAX_FIELD) return fail('BAD_REQUEST', 'host name too long');
  const host = buf.toString('latin1', hostStart, hostEnd);
  // curl (and others) put an IPv6 literal in the 4a name field; say why it cannot go, not just "invalid".
  if (isIPv6(host)) return fail('FAMILY_UNSUPPORTED', `SOCKS4 has no IPv6: ${host} needs SOCKS5 or HTTP`);
  if (!isValidDomain(host)) return fail('BAD_REQUEST', 'invalid host name');
  return ok({ cmd, userid, target: { host, port, kind: 'domain' } }, hostEnd + 1);
}

export function encodeSocks4Reply(cd: number, bind?: { host: string; port: number }): Buffer {
  const b = Buffer.alloc(8);
  b[1] = cd;
  if (bind && /^\d+\.\d+\.\d+\.\d+$/.test(bind.host)) {
    b.writeUInt16BE(bind.port, 2);
    bind.host.split('.').forEach((o, i) => (b[4 + i] = Number(o)));
  }
  return b;
}

/** SOCKS4 has only a userid; `user:password` in it carries a password (our convention, documented). */
export function splitSocks4Userid(userid: string): { username: string; password: string | undefined } {
  const i = userid.indexOf(':');
  return i < 0 ? { username: userid, password: undefined } : { username: userid.slice(0, i), password: userid.slice(i + 1) };
}

/**
 * SOCKS5 (RFC 1928) and username/password sub-negotiation (RFC 1929):
 * pure parsers and encoders. The ingress and the exit both use them.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { fail, MORE, ok, type Parse } from '../parse.js';
import type { TargetAddress } from '../address.js';
import { isValidDomain } from '../address.js';
import { strictUtf8 } from '../strict-utf8.js';

export const SOCKS5 = 0x05;
export const METHOD = Object.freeze({ NO_AUTH: 0x00, USER_PASS: 0x02, NO_ACCEPTABLE: 0xff });
/** UDP_IN_TCP is hopgate's extension: UDP datagrams framed inside this connection (udp-in-tcp.ts). */
export const CMD = Object.freeze({ CONNECT: 0x01, BIND: 0x02, UDP_ASSOCIATE: 0x03, UDP_IN_TCP: 0x83 });
export const ATYP = Object.freeze({ IPV4: 0x01, DOMAIN: 0x03, IPV6: 0x04 });
export const REP = Object.freeze({
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NET_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONN_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  CMD_UNSUPPORTED: 0x07,
  ATYP_UNSUPPORTED: 0x08,
});

export interface Greeting {
  readonly methods: readonly number[];
}

export function parseGreeting(buf: Buffer): Parse<Greeting> {
  if (buf.length < 2) return MORE;
  if (buf[0] !== SOCKS5) return fail('BAD_REQUEST', `not SOCKS5 (version ${buf[0]})`);
  const n = buf[1]!;
  if (n === 0) return fail('BAD_REQUEST', 'greeting offers no methods');
  if (buf.length < 2 + n) return MORE;
  return ok({ methods: Array.from(buf.subarray(2, 2 + n)) }, 2 + n);
}

export function encodeMethodChoice(method: number): Buffer {
  return Buffer.from([SOCKS5, method]);
}

export interface UserPass {
  readonly username: string;
  readonly password: string;
}

/** RFC 1929 request: VER(1)=1 ULEN UNAME PLEN PASSWD. */
export function parseUserPass(buf: Buffer): Parse<UserPass> {
  if (buf.length < 2) return MORE;
  if (buf[0] !== 0x01) return fail('BAD_REQUEST', `bad auth sub-negotiation version ${buf[0]}`);
  const ulen = buf[1]!;
  if (buf.length < 3 + ulen) return MORE;
  const plen = buf[2 + ulen]!;
  const end = 3 + ulen + plen;
  if (buf.length < end) return MORE;
  if (ulen === 0) return fail('AUTH_FAILED', 'empty username');
  const username = strictUtf8(buf.subarray(2, 2 + ulen));
  const password = strictUtf8(buf.subarray(3 + ulen, end));
  if (username === undefined || password === undefined) return fail('AUTH_FAILED', 'username or password is not valid UTF-8');
  return ok({ username, password }, end);
}

export function encodeUserPass(username: string, password: string): Buffer {
  const u = Buffer.from(username, 'utf8');
  const p = Buffer.from(password, 'utf8');
  if (u.length > 255 || p.length > 255) throw new RangeError('RFC 1929 fields are at most 255 bytes');
  return Buffer.concat([Buffer.from([0x01, u.length]), u, Buffer.from([p.length]), p]);
}

export function encodeAuthStatus(success: boolean): Buffer {
  return Buffer.from([0x01, success ? 0x00 : 0x01]);
}

export interface Request {
  readonly cmd: number;
  readonly target: TargetAddress;
}

/** Parse ATYP + address + port at `off`; returns the address and the offset after it. */
export function parseAddress(buf: Buffer, off: number): Parse<TargetAddress> {
  if (buf.length < off + 1) return MORE;
  const atyp = buf[off]!;
  let host: string;
  let kind: TargetAddress['kind'];
  let p: number;
  if (atyp === ATYP.IPV4) {
    if (buf.length < off + 7) return MORE;
    host = `${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}.${buf[off + 4]}`;
    kind = 'ipv4';
    p = off + 5;
  } else if (atyp === ATYP.IPV6) {
    if (buf.length < off + 19) return MORE;
    host = ipv6FromBytes(buf.subarray(off + 1, off + 17));
    kind = 'ipv6';
    p = off + 17;
  } else if (atyp === ATYP.DOMAIN) {
    if (buf.length < off + 2) return MORE;
    const len = buf[off + 1]!;
    if (buf.length < off + 2 + len + 2) return MORE;
    if (len === 0) return fail('BAD_REQUEST', 'empty domain name');
    host = buf.toString('latin1', off + 2, off + 2 + len);
    // A domain field carrying an IP literal is treated as that IP (curl socks5h does this for IPs).
    kind = isIPv4(host) ? 'ipv4' : isIPv6(host) ? 'ipv6' : 'domain';
    if (kind === 'domain' && !isValidDomain(host)) return fail('BAD_REQUEST', 'invalid domain name');
    if (kind === 'ipv6') {
      // A zone id names an interface of the sender's host: meaningless here.
      if (host.includes('%')) return fail('BAD_REQUEST', 'IPv6 zone id in a target address');
      // One spelling per address, the one ATYP 4 gives ("0::1" and "::1" are the same target).
      host = ipv6FromBytes(ipv6ToBytes(host));
    }
    p = off + 2 + len;
  } else {
    return fail('ADDRTYPE_UNSUPPORTED', `address type ${atyp} not supported`);
  }
  const port = buf.readUInt16BE(p);
  return ok({ host, port, kind }, p + 2 - off);
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT */
export function parseRequest(buf: Buffer): Parse<Request> {
  if (buf.length < 4) return MORE;
  if (buf[0] !== SOCKS5) return fail('BAD_REQUEST', `bad request version ${buf[0]}`);
  const addr = parseAddress(buf, 3);
  if (addr.kind !== 'ok') return addr;
  return ok({ cmd: buf[1]!, target: addr.value }, 3 + addr.consumed);
}

/** How many bytes encodeAddress writes for `host` (ATYP, address, port), without encoding it. */
export function encodedAddressLength(host: string): number {
  return isIPv4(host) ? 1 + 4 + 2 : isIPv6(host) ? 1 + 16 + 2 : 1 + 1 + Buffer.byteLength(host, 'latin1') + 2;
}

/** The longest address encodeAddress writes: a 255-byte name. */
export const MAX_ENCODED_ADDRESS = 1 + 1 + 255 + 2;

export function encodeAddress(host: string, port: number): Buffer {
  let head: Buffer;
  if (isIPv4(host)) {
    head = Buffer.from([ATYP.IPV4, ...host.split('.').map(Number)]);
  } else if (isIPv6(host)) {
    head = Buffer.concat([Buffer.from([ATYP.IPV6]), ipv6ToBytes(host)]);
  } else {
    const name = Buffer.from(host, 'latin1');
    if (name.length > 255) throw new RangeError('domain name longer than 255 bytes');
    head = Buffer.concat([Buffer.from([ATYP.DOMAIN, name.length]), name]);
  }
  const tail = Buffer.allocUnsafe(2);
  tail.writeUInt16BE(port);
  return Buffer.concat([head, tail]);
}

export function encodeRequest(cmd: number, host: string, port: number): Buffer {
  return Buffer.concat([Buffer.from([SOCKS5, cmd, 0x00]), encodeAddress(host, port)]);
}

const ZERO_BIND = Buffer.from([SOCKS5, 0, 0, ATYP.IPV4, 0, 0, 0, 0, 0, 0]);

export function encodeReply(rep: number, bind?: { host: string; port: number }): Buffer {
  if (!bind || (!isIPv4(bind.host) && !isIPv6(bind.host))) {
    const b = Buffer.from(ZERO_BIND);
    b[1] = rep;
    return b;
  }
  return Buffer.concat([Buffer.from([SOCKS5, rep, 0x00]), encodeAddress(bind.host, bind.port)]);
}

export interface Reply {
  readonly rep: number;
  readonly bind: TargetAddress;
}

export function parseReply(buf: Buffer): Parse<Reply> {
  if (buf.length < 4) return MORE;
  if (buf[0] !== SOCKS5) return fail('BAD_REQUEST', `bad reply version ${buf[0]}`);
  const addr = parseAddress(buf, 3);
  if (addr.kind !== 'ok') return addr;
  return ok({ rep: buf[1]!, bind: addr.value }, 3 + addr.consumed);
}

export function ipv6FromBytes(b: Buffer): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  // Let the platform compress it canonically.
  return new URL(`http://[${parts.join(':')}]/`).hostname.slice(1, -1);
}

export function ipv6ToBytes(host: string): Buffer {
  const out = Buffer.alloc(16);
  let h = host;
  const v4 = h.match(/(\d+\.\d+\.\d+\.\d+)$/);
  let tailWords: number[] = [];
  if (v4) {
    const o = v4[1]!.split('.').map(Number);
    tailWords = [(o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!];
    h = h.slice(0, -v4[1]!.length) + '0:0';
  }
  const [left, right] = h.includes('::') ? h.split('::') : [h, undefined];
  const l = left ? left.split(':').filter((x) => x.length > 0) : [];
  const r = right !== undefined && right.length > 0 ? right.split(':') : [];
  const words = [...l, ...new Array<string>(8 - l.length - r.length).fill('0'), ...r].map((w) => parseInt(w, 16));
  if (tailWords.length) words.splice(6, 2, ...tailWords);
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

/**
 * PROXY protocol v1 (text) and v2 (binary) header parser, after HAProxy's
 * doc/proxy-protocol.txt. Pure and incremental: feed the bytes received so
 * far; the answer is `more`, `ok` (with how many bytes the header took) or
 * `error`. Never reads past the header and never needs more than
 * {@link MAX_HEADER_BYTES} bytes to decide.
 */
import { isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';

export type ProxyHeaderParse =
  | { readonly kind: 'more' }
  | {
      readonly kind: 'ok';
      readonly version: 1 | 2;
      readonly headerLength: number;
      /** `local`: the load balancer's own connection (health check): keep the socket's addresses. */
      readonly command: 'proxy' | 'local';
      /** `unknown`: no usable addresses (v1 UNKNOWN, v2 UNSPEC/UNIX/DGRAM): keep the socket's addresses. */
      readonly family: 'tcp4' | 'tcp6' | 'unknown';
      readonly source?: string;
      readonly sourcePort?: number;
      readonly destination?: string;
      readonly destinationPort?: number;
    }
  | { readonly kind: 'error'; readonly reason: string };

/** v1: the longest line a receiver must accept, CRLF included ("PROXY UNKNOWN" + two IPv6 + two ports). */
export const V1_MAX_BYTES = 107;
/** v2: largest address block + TLVs we accept (the 16-byte fixed part comes on top). */
export const V2_MAX_PAYLOAD = 1024;
export const MAX_HEADER_BYTES = 16 + V2_MAX_PAYLOAD;

const V1_SIG = Buffer.from('PROXY ', 'latin1');
const V2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

const MORE = Object.freeze({ kind: 'more' as const });
const fail = (reason: string): ProxyHeaderParse => ({ kind: 'error', reason });

/** True when `buf` and `sig` agree on their common length. */
function agrees(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length);
  for (let i = 0; i < n; i++) if (buf[i] !== sig[i]) return false;
  return true;
}

/**
 * Which PROXY signature `buf` starts with: `v1` ("PROXY "), `v2` (the 12-byte
 * binary signature), `none`, or `more` while `buf` is still a proper prefix of one.
 */
export function proxySignature(buf: Buffer): 'v1' | 'v2' | 'none' | 'more' {
  if (buf.length >= V1_SIG.length && agrees(buf, V1_SIG)) return 'v1';
  if (buf.length >= V2_SIG.length && agrees(buf, V2_SIG)) return 'v2';
  if ((buf.length < V1_SIG.length && agrees(buf, V1_SIG)) || (buf.length < V2_SIG.length && agrees(buf, V2_SIG))) return 'more';
  return 'none';
}

export function parseProxyHeader(buf: Buffer): ProxyHeaderParse {
  switch (proxySignature(buf)) {
    case 'v1':
      return parseV1(buf);
    case 'v2':
      return parseV2(buf);
    case 'more':
      return MORE;
    default:
      return fail('no PROXY protocol header');
  }
}

// ---------------------------------------------------------------- v1

const V4_OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const V4_TEXT = new RegExp(`^${V4_OCTET}(?:\\.${V4_OCTET}){3}$`);
const V6_CHARS = /^[0-9A-Fa-f:.]{2,45}$/;
const PORT_TEXT = /^(?:0|[1-9][0-9]{0,4})$/;

function parseV1(buf: Buffer): ProxyHeaderParse {
  // Scan for CRLF within the first 107 bytes; anything but printable US-ASCII before it is malformed.
  const limit = Math.min(buf.length, V1_MAX_BYTES);
  let end = -1;
  for (let i = V1_SIG.length; i < limit; i++) {
    const c = buf[i]!;
    if (c === 0x0d) {
      if (i + 1 >= V1_MAX_BYTES) return fail('v1: no CRLF in the first 107 bytes');
      if (i + 1 >= buf.length) return MORE;
      if (buf[i + 1] !== 0x0a) return fail('v1: CR without LF');
      end = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) return fail('v1: not printable US-ASCII');
  }
  if (end < 0) return buf.length >= V1_MAX_BYTES ? fail('v1: no CRLF in the first 107 bytes') : MORE;
  const headerLength = end + 2;
  const line = buf.toString('latin1', V1_SIG.length, end);
  const fields = line.split(' ');
  const proto = fields[0];
  // UNKNOWN: the sender may put anything before the CRLF; the receiver ignores it.
  if (proto === 'UNKNOWN') return { kind: 'ok', version: 1, headerLength, command: 'proxy', family: 'unknown' };
  if (proto !== 'TCP4' && proto !== 'TCP6') return fail(`v1: unknown protocol '${proto?.slice(0, 16)}'`);
  if (fields.length !== 5) return fail('v1: expected exactly 4 fields after the protocol, separated by single spaces');
  const [, srcText, dstText, sportText, dportText] = fields as [string, string, string, string, string];
  const source = proto === 'TCP4' ? v1IPv4(srcText) : v1IPv6(srcText);
  const destination = proto === 'TCP4' ? v1IPv4(dstText) : v1IPv6(dstText);
  if (source === undefined) return fail(`v1: bad ${proto} source address`);
  if (destination === undefined) return fail(`v1: bad ${proto} destination address`);
  const sourcePort = v1Port(sportText);
  const destinationPort = v1Port(dportText);
  if (sourcePort === undefined) return fail('v1: bad source port');
  if (destinationPort === undefined) return fail('v1: bad destination port');
  return { kind: 'ok', version: 1, headerLength, command: 'proxy', family: proto === 'TCP4' ? 'tcp4' : 'tcp6', source, sourcePort, destination, destinationPort };
}

function v1IPv4(text: string): string | undefined {
  return V4_TEXT.test(text) ? text : undefined;
}

function v1IPv6(text: string): string | undefined {
  if (!V6_CHARS.test(text) || !text.includes(':') || !isIPv6(text) || !ipaddr.IPv6.isValid(text)) return undefined;
  try {
    return formatIPv6(Uint8Array.from(ipaddr.IPv6.parse(text).toByteArray()));
  } catch {
    return undefined;
  }
}

function v1Port(text: string): number | undefined {
  if (!PORT_TEXT.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

// ---------------------------------------------------------------- v2

const AF_UNSPEC = 0x0;
const AF_INET = 0x1;
const AF_INET6 = 0x2;
const AF_UNIX = 0x3;
const PROTO_STREAM = 0x1;

function parseV2(buf: Buffer): ProxyHeaderParse {
  if (buf.length < 16) return MORE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return fail(`v2: version ${verCmd >> 4}, only 2 is defined`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return fail(`v2: unknown command ${cmd}`);
  const fam = buf[13]! >> 4;
  const proto = buf[13]! & 0x0f;
  if (fam > AF_UNIX) return fail(`v2: unknown address family ${fam}`);
  if (proto > 2) return fail(`v2: unknown transport protocol ${proto}`);
  const len = buf.readUInt16BE(14);
  if (len > V2_MAX_PAYLOAD) return fail(`v2: header of ${len} bytes is too long (max ${V2_MAX_PAYLOAD})`);
  // The declared length must hold the address block of the family it announces.
  const need = fam === AF_INET ? 12 : fam === AF_INET6 ? 36 : fam === AF_UNIX ? 216 : 0;
  if (cmd === 1 && proto !== 0 && len < need) return fail(`v2: length ${len} is shorter than the ${need}-byte address block`);
  const headerLength = 16 + len;
  if (buf.length < headerLength) return MORE;
  // LOCAL: the proxy's own connection; the address block (if any) is ignored.
  if (cmd === 0) return { kind: 'ok', version: 2, headerLength, command: 'local', family: 'unknown' };
  // UNSPEC, UNIX and DGRAM fall back to UNSPEC: use the real connection's addresses.
  if (proto !== PROTO_STREAM || fam === AF_UNSPEC || fam === AF_UNIX) return { kind: 'ok', version: 2, headerLength, command: 'proxy', family: 'unknown' };
  if (fam === AF_INET) {
    return {
      kind: 'ok',
      version: 2,
      headerLength,
      command: 'proxy',
      family: 'tcp4',
      source: `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`,
      destination: `${buf[20]}.${buf[21]}.${buf[22]}.${buf[23]}`,
      sourcePort: buf.readUInt16BE(24),
      destinationPort: buf.readUInt16BE(26),
    };
  }
  return {
    kind: 'ok',
    version: 2,
    headerLength,
    command: 'proxy',
    family: 'tcp6',
    source: formatIPv6(buf.subarray(16, 32)),
    destination: formatIPv6(buf.subarray(32, 48)),
    sourcePort: buf.readUInt16BE(48),
    destinationPort: buf.readUInt16BE(50),
  };
}

/**
 * 16 bytes → the text Node itself gives a socket's address: RFC 5952 (lower
 * case, longest run of two or more zero groups as `::`), and an IPv4-mapped
 * address as `::ffff:a.b.c.d` so `unmapIPv4` folds it.
 */
export function formatIPv6(b: Uint8Array): string {
  let mapped = true;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) mapped = false;
  if (mapped && b[10] === 0xff && b[11] === 0xff) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

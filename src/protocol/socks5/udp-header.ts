/** SOCKS5 UDP request header (RFC 1928 §7): RSV(2) FRAG(1) ATYP DST.ADDR DST.PORT DATA. */
import { fail, type Parse, ok } from '../parse.js';
import type { TargetAddress } from '../address.js';
import { encodeAddress, encodedAddressLength, MAX_ENCODED_ADDRESS, parseAddress } from './codec.js';

export interface UdpDatagram {
  readonly target: TargetAddress;
  readonly data: Buffer;
}

export function parseUdpDatagram(buf: Buffer): Parse<UdpDatagram> {
  if (buf.length < 4) return fail('BAD_REQUEST', 'short UDP header');
  if (buf[0] !== 0 || buf[1] !== 0) return fail('BAD_REQUEST', 'UDP header RSV not zero');
  // Fragmentation is optional (RFC 1928 §7); we drop fragments rather than reassemble.
  if (buf[2] !== 0) return fail('COMMAND_UNSUPPORTED', 'UDP fragmentation not supported');
  const addr = parseAddress(buf, 3);
  if (addr.kind === 'more') return fail('BAD_REQUEST', 'truncated UDP header');
  if (addr.kind === 'error') return addr;
  const off = 3 + addr.consumed;
  return ok({ target: addr.value, data: buf.subarray(off) }, buf.length);
}

export function encodeUdpDatagram(from: { host: string; port: number }, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0, 0, 0]), encodeAddress(from.host, from.port), data]);
}

/** How long encodeUdpDatagram's header is for a datagram from `host`, without encoding it (RSV FRAG ATYP ADDR PORT). */
export function udpHeaderLength(host: string): number {
  return 3 + encodedAddressLength(host);
}

/** The longest header: a 255-byte name. */
const MAX_UDP_HEADER = 3 + MAX_ENCODED_ADDRESS;

/**
 * Whether `dataLength` bytes with their header for `host` fit `max` bytes: the header is looked at only
 * for the few datagrams near the limit (every reply passes here: no address parsing for the rest).
 */
export function udpDatagramFits(host: string, dataLength: number, max: number): boolean {
  return dataLength + MAX_UDP_HEADER <= max || udpHeaderLength(host) + dataLength <= max;
}

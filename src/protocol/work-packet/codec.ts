/**
 * Work packets: the framing on a reverse exit's work connection
 * (docs/REVERSE-EXITS.md has the byte layouts and the conversation).
 *
 *   0      2      3     4        8          10         14         14+P
 *   +------+------+-----+--------+----------+----------+----------+--------+
 *   | 'HW' | ver  |mode |   id   | propsLen | bodyLen  |  props   |  body  |
 *   +------+------+-----+--------+----------+----------+----------+--------+
 *     2 B    1 B   1 B    u32 BE   u16 BE     u32 BE     propsLen   bodyLen
 *
 * props: repeated { keyLen u8, key (ASCII, [a-z0-9-]), valueLen u16 BE, value (UTF-8) }.
 * Pure: bytes in, values out; never reads past what it was given, never throws.
 */
import { MORE, fail, ok, type Parse } from '../parse.js';

export const MAGIC = 0x4857; // 'HW'
export const VERSION = 1;
export const HEADER_BYTES = 14;
/** Bounds: a peer cannot make the other side buffer more than this per packet. */
export const MAX_PROPS_BYTES = 8 * 1024;
export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_PROPS = 64;
export const MAX_PACKET_BYTES = HEADER_BYTES + MAX_PROPS_BYTES + MAX_BODY_BYTES;

export const MODES = ['empty', 'request', 'response', 'keepalive', 'heartbeat', 'direct-data'] as const;
export type Mode = (typeof MODES)[number];
export const MODE_CODE: Readonly<Record<Mode, number>> = Object.freeze({
  empty: 0,
  request: 1,
  response: 2,
  keepalive: 3,
  heartbeat: 4,
  'direct-data': 5,
});

export interface WorkPacket {
  readonly version: number;
  readonly mode: Mode;
  readonly id: number;
  readonly props: ReadonlyMap<string, string>;
  readonly body: Buffer;
}

const KEY_RE = /^[a-z0-9-]{1,64}$/;

export interface PacketInput {
  readonly mode: Mode;
  readonly id?: number;
  readonly props?: Readonly<Record<string, string | number | undefined>>;
  readonly body?: Buffer;
}

/**
 * The props block alone (also the payload of a link's OPEN and OPEN_OK frames, src/protocol/link/).
 * Throws on values outside the format's bounds (a programming error, not input).
 */
export function encodeProps(props: Readonly<Record<string, string | number | undefined>>): Buffer {
  const parts: Buffer[] = [];
  let count = 0;
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined) continue;
    if (!KEY_RE.test(k)) throw new RangeError(`work packet: bad property key '${k}'`);
    const key = Buffer.from(k, 'latin1');
    const value = Buffer.from(String(v), 'utf8');
    if (value.length > 0xffff) throw new RangeError(`work packet: property '${k}' too long`);
    const head = Buffer.allocUnsafe(3 + key.length);
    head[0] = key.length;
    key.copy(head, 1);
    head.writeUInt16BE(value.length, 1 + key.length);
    parts.push(head, value);
    count++;
  }
  if (count > MAX_PROPS) throw new RangeError('work packet: too many properties');
  const out = Buffer.concat(parts);
  if (out.length > MAX_PROPS_BYTES) throw new RangeError('work packet: properties too large');
  return out;
}

/** Encode one packet. Throws on values outside the format's bounds (a programming error, not input). */
export function encodePacket(p: PacketInput): Buffer {
  const props = encodeProps(p.props ?? {});
  const body = p.body ?? Buffer.alloc(0);
  if (body.length > MAX_BODY_BYTES) throw new RangeError('work packet: body too large');
  const id = p.id ?? 0;
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new RangeError('work packet: id out of range');
  const out = Buffer.allocUnsafe(HEADER_BYTES + props.length + body.length);
  out.writeUInt16BE(MAGIC, 0);
  out[2] = VERSION;
  out[3] = MODE_CODE[p.mode];
  out.writeUInt32BE(id, 4);
  out.writeUInt16BE(props.length, 8);
  out.writeUInt32BE(body.length, 10);
  props.copy(out, HEADER_BYTES);
  body.copy(out, HEADER_BYTES + props.length);
  return out;
}

/** Parse a whole props block `b[start, end)`: the properties, or what is wrong with them. */
export function parseProps(b: Buffer, start: number, end: number): Map<string, string> | string {
  const props = new Map<string, string>();
  let i = start;
  while (i < end) {
    const klen = b[i]!;
    if (klen === 0 || i + 1 + klen + 2 > end) return 'work packet property truncated';
    const key = b.toString('latin1', i + 1, i + 1 + klen);
    if (!KEY_RE.test(key)) return 'work packet property key invalid';
    const vlen = b.readUInt16BE(i + 1 + klen);
    const vstart = i + 3 + klen;
    if (vstart + vlen > end) return 'work packet property truncated';
    if (props.has(key)) return `work packet property '${key}' given twice`;
    if (props.size >= MAX_PROPS) return 'work packet has too many properties';
    props.set(key, b.toString('utf8', vstart, vstart + vlen));
    i = vstart + vlen;
  }
  return props;
}

/** Parse one packet from the front of `b`: `more` until it is whole, `error` on anything malformed. */
export function parsePacket(b: Buffer): Parse<WorkPacket> {
  if (b.length >= 2 && b.readUInt16BE(0) !== MAGIC) return fail('BAD_REQUEST', 'not a work packet (bad magic)');
  if (b.length === 1 && b[0] !== MAGIC >> 8) return fail('BAD_REQUEST', 'not a work packet (bad magic)');
  if (b.length < HEADER_BYTES) return MORE;
  const version = b[2]!;
  if (version !== VERSION) return fail('BAD_REQUEST', `work packet version ${version} not supported (want ${VERSION})`);
  const mode = MODES[b[3]!];
  if (mode === undefined) return fail('BAD_REQUEST', `unknown work packet mode ${b[3]}`);
  const id = b.readUInt32BE(4);
  const propsLen = b.readUInt16BE(8);
  const bodyLen = b.readUInt32BE(10);
  if (propsLen > MAX_PROPS_BYTES) return fail('BAD_REQUEST', `work packet properties too large (${propsLen} bytes)`);
  if (bodyLen > MAX_BODY_BYTES) return fail('BAD_REQUEST', `work packet body too large (${bodyLen} bytes)`);
  const total = HEADER_BYTES + propsLen + bodyLen;
  if (b.length < total) return MORE;
  const end = HEADER_BYTES + propsLen;
  const props = parseProps(b, HEADER_BYTES, end);
  if (typeof props === 'string') return fail('BAD_REQUEST', props);
  // Copy the body: the caller's buffer is reused for the bytes after the packet.
  const body = Buffer.from(b.subarray(end, total));
  return ok({ version, mode, id, props, body }, total);
}

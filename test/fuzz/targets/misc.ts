/** PROXY protocol v1/v2, work packets (and their messages), the username grammar. */
import { MAX_HEADER_BYTES, parseProxyHeader, type ProxyHeaderParse } from '../../../src/protocol/proxy-protocol/codec.js';
import { encodePacket, MAX_PACKET_BYTES, MODES, parsePacket, type WorkPacket } from '../../../src/protocol/work-packet/codec.js';
import { parseRegistration, parseRequest as parseWorkRequest, parseResponse, registrationPacket, requestPacket, responsePacket } from '../../../src/protocol/work-packet/messages.js';
import { formatUsername, parseUsername } from '../../../src/protocol/username/grammar.js';
import { tagsFromHeaders } from '../../../src/protocol/username/header-tags.js';
import { isDeepStrictEqual } from 'node:util';
import type { Parse } from '../../../src/protocol/parse.js';
import { checkParse, errorParse, timed, violation } from '../properties.js';
import { gen, type FuzzTarget } from '../target.js';
import type { Rng } from '../rng.js';

type ProxyHeader = Extract<ProxyHeaderParse, { kind: 'ok' }>;

const V2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** The PROXY codec has its own result type; seen as a Parse so the same properties apply. */
function proxyParse(b: Buffer): Parse<ProxyHeader> {
  const r = parseProxyHeader(b);
  if (r.kind === 'more') return r;
  if (r.kind === 'error') return typeof r.reason === 'string' && r.reason !== '' ? errorParse('BAD_REQUEST', r.reason) : violation('result-shape', 'PROXY error without a reason');
  return { kind: 'ok', value: r, consumed: r.headerLength };
}

function v6Bytes(text: string): Buffer {
  // formatIPv6's output; expand "::" and a dotted tail.
  let t = text;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(t);
  if (dotted) t = t.slice(0, dotted.index) + `${((+dotted[1]! << 8) | +dotted[2]!).toString(16)}:${((+dotted[3]! << 8) | +dotted[4]!).toString(16)}`;
  const [l = '', r] = t.split('::');
  const left = l === '' ? [] : l.split(':');
  const right = r === undefined || r === '' ? [] : r.split(':');
  const words = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(parseInt(w, 16), i * 2));
  return out;
}

/** A test-side PROXY encoder (the ingress only parses): the round trip checks the parser against the spec layout. */
function encodeProxy(v: ProxyHeader): Buffer | undefined {
  if (v.family === 'unknown') return undefined;
  if (v.version === 1) return Buffer.from(`PROXY ${v.family.toUpperCase()} ${v.source} ${v.destination} ${v.sourcePort} ${v.destinationPort}\r\n`, 'latin1');
  const v4 = v.family === 'tcp4';
  const addr = v4
    ? Buffer.from([...v.source!.split('.').map(Number), ...v.destination!.split('.').map(Number)])
    : Buffer.concat([v6Bytes(v.source!), v6Bytes(v.destination!)]);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(v.sourcePort!, 0);
  ports.writeUInt16BE(v.destinationPort!, 2);
  const head = Buffer.from([0x21, v4 ? 0x11 : 0x21, 0, 0]);
  head.writeUInt16BE(addr.length + 4, 2);
  return Buffer.concat([V2_SIG, head, addr, ports]);
}

function proxyHeader(rng: Rng): Buffer {
  if (rng.chance(0.4)) {
    const v6 = rng.chance(0.4);
    const addr = (): string => (v6 ? (rng.chance(0.5) ? `2001:db8::${rng.int(0xffff).toString(16)}` : '::1') : gen.ipv4(rng));
    const line = rng.chance(0.1) ? 'PROXY UNKNOWN\r\n' : `PROXY ${v6 ? 'TCP6' : 'TCP4'} ${addr()} ${addr()} ${gen.port(rng)} ${gen.port(rng)}\r\n`;
    return Buffer.from(line + (rng.chance(0.3) ? 'GET / HTTP/1.1\r\n\r\n' : ''), 'latin1');
  }
  const fam = rng.pick([0, 1, 2, 3]);
  const addrLen = fam === 1 ? 12 : fam === 2 ? 36 : fam === 3 ? 216 : 0;
  const tlvs = rng.chance(0.3) ? Buffer.concat([Buffer.from([rng.pick([1, 2, 3, 4, 0x20, 0x30]), 0, 3]), rng.bytes(3)]) : Buffer.alloc(0);
  const head = Buffer.from([rng.chance(0.9) ? 0x21 : 0x20, (fam << 4) | rng.pick([1, 1, 1, 2, 0])]);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(addrLen + tlvs.length);
  return Buffer.concat([V2_SIG, head, len, rng.bytes(addrLen), tlvs, rng.chance(0.3) ? Buffer.from([5, 1, 0]) : Buffer.alloc(0)]);
}

export const proxyProtocol: FuzzTarget = {
  name: 'proxy-protocol',
  generate: proxyHeader,
  check(input) {
    // "never needs more than MAX_HEADER_BYTES bytes to decide" (codec.ts).
    checkParse({ name: this.name, parse: proxyParse, incremental: true, maxPending: MAX_HEADER_BYTES, encode: encodeProxy, canon: ({ headerLength: _, ...rest }) => rest }, input);
  },
};

function workPacket(rng: Rng): Buffer {
  const target = { host: rng.chance(0.5) ? gen.domain(rng) : gen.ipv4(rng), port: rng.range(1, 65535), kind: 'domain' as const };
  switch (rng.int(5)) {
    case 0:
      return registrationPacket({ exit: gen.label(rng), token: gen.text(rng, 40) || 't' }, rng.u32());
    case 1:
      return requestPacket(rng.u32(), { target, purpose: rng.pick(['connect', 'publish'] as const), early: rng.chance(0.5) ? rng.bytes(rng.int(100)) : undefined, allowNets: ['127.0.0.0/8'], denyNets: rng.chance(0.5) ? ['10.0.0.0/8', '::1/128'] : undefined });
    case 2:
      return responsePacket(rng.u32(), rng.chance(0.5) ? { ok: true, bind: `${gen.ipv4(rng)}:${gen.port(rng)}` } : { ok: false, code: 'CONN_REFUSED', message: gen.text(rng, 50) });
    default: {
      const props: Record<string, string> = {};
      for (let i = rng.int(5); i > 0; i--) props[gen.label(rng)] = gen.text(rng, 30);
      return encodePacket({ mode: rng.pick(MODES), id: rng.u32(), props, body: rng.bytes(rng.int(64)) });
    }
  }
}

export const workPackets: FuzzTarget = {
  name: 'work-packet',
  generate: workPacket,
  check(input) {
    checkParse(
      {
        name: this.name,
        parse: parsePacket,
        incremental: true,
        maxPending: MAX_PACKET_BYTES,
        encode: (v: WorkPacket) => encodePacket({ mode: v.mode, id: v.id, props: Object.fromEntries(v.props), body: v.body }),
        extra: (v) => {
          // Every reader of a packet's meaning answers a value or a reason, never throws.
          timed('parseRegistration', () => parseRegistration(v));
          timed('parseRequest', () => parseWorkRequest(v));
          timed('parseResponse', () => parseResponse(v));
        },
      },
      input,
    );
  },
};

function username(rng: Rng): string {
  const keys = ['country', 'cc', 'city', 'state', 'asn', 'session', 'sessid', 'sesstime', 'sessmode', 'exitip', 'exitnode', 'port', 'index', 'quality', 'bogus'];
  const values = (k: string): string =>
    ({ country: rng.pick(['de', 'us,de', 'gb;uk', 'de,']), cc: rng.pick(['uk', 'US', 'x', 'UK;fr']), city: rng.pick(['new_york', 'berlin,paris']), state: 'ca', asn: rng.pick(['as3320', '0', '4294967296', '1;AS2']),
      exitnode: rng.pick(['random', 'RANDOM', gen.ipv4(rng), 'any']), quality: rng.pick(['0', '90', '100', '101']), session: gen.label(rng), sessid: 'A_b', sesstime: rng.pick(['1', '1440', '1441']), sessmode: rng.pick(['soft', 'strict']), exitip: gen.ipv4(rng), port: String(gen.port(rng)), index: String(rng.int(70000)) })[k] ?? gen.label(rng);
  const parts: string[] = rng.chance(0.2) ? ['user', gen.label(rng)] : [gen.label(rng)];
  for (let i = rng.int(4); i > 0; i--) {
    const k = rng.pick(keys);
    parts.push(rng.chance(0.2) ? k.toUpperCase() : k, values(k));
  }
  return parts.join('-');
}

export const usernames: FuzzTarget = {
  name: 'username',
  generate: (rng) => Buffer.from(username(rng), 'latin1'),
  check(input) {
    const raw = input.toString('latin1');
    const r = timed(this.name, () => parseUsername(raw));
    if (r.ok === false) {
      if (r.code !== 'USERNAME_INVALID' || typeof r.reason !== 'string' || r.reason === '') violation('result-shape', `refusal without code and reason: ${JSON.stringify(r)}`);
      return;
    }
    if (r.ok !== true || r.value.raw !== raw) violation('result-shape', `unexpected result ${JSON.stringify(r)}`);
    const text = timed('formatUsername', () => formatUsername(r.value.login, r.value.tags));
    const again = timed(this.name, () => parseUsername(text));
    if (!again.ok || again.value.login !== r.value.login || !isDeepStrictEqual(again.value.tags, r.value.tags)) {
      violation('round-trip', `${JSON.stringify(raw)} → ${JSON.stringify(text)} → ${JSON.stringify(again)}`);
    }
    // The same tags given as X-Hopgate headers must be judged, not thrown over.
    const headers = Object.entries(r.value.tags).map(([name, value]) => ({ name: `X-Hopgate-${name}`, value: String(value) }));
    timed('tagsFromHeaders', () => tagsFromHeaders({ login: r.value.login, tags: {}, raw: r.value.login }, headers));
  },
};

export const MISC_TARGETS: readonly FuzzTarget[] = [proxyProtocol, workPackets, usernames];

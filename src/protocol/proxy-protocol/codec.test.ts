import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { formatIPv6, MAX_HEADER_BYTES, parseProxyHeader, proxySignature, V1_MAX_BYTES } from './codec.js';

// The 12-byte v2 signature, proxy-protocol.txt §2.2: \x0D \x0A \x0D \x0A \x00 \x0D \x0A \x51 \x55 \x49 \x54 \x0A
const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
const bytes = (...parts: Array<number[] | string>): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const Z = (n: number): number[] => new Array<number>(n).fill(0);

interface Vector {
  name: string;
  frame: Buffer;
  want: Record<string, unknown>;
}

const VALID: Vector[] = [
  {
    // The example line of proxy-protocol.txt §2.1.
    name: 'v1 TCP4 (spec example)',
    frame: bytes('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'),
    want: { version: 1, command: 'proxy', family: 'tcp4', source: '192.168.0.1', sourcePort: 56324, destination: '192.168.0.11', destinationPort: 443 },
  },
  {
    name: 'v1 TCP4 edge values',
    frame: bytes('PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n'),
    want: { family: 'tcp4', source: '0.0.0.0', sourcePort: 0, destination: '255.255.255.255', destinationPort: 65535 },
  },
  {
    name: 'v1 TCP6, upper-case hex normalised',
    frame: bytes('PROXY TCP6 2001:DB8::1 ::1 1234 8080\r\n'),
    want: { family: 'tcp6', source: '2001:db8::1', sourcePort: 1234, destination: '::1', destinationPort: 8080 },
  },
  {
    name: 'v1 TCP6 longest line (104 bytes)',
    frame: bytes('PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n'),
    want: { family: 'tcp6', source: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', sourcePort: 65535 },
  },
  {
    name: 'v1 TCP6 v4-mapped',
    frame: bytes('PROXY TCP6 ::ffff:127.0.0.9 ::ffff:127.0.0.1 40000 8001\r\n'),
    want: { family: 'tcp6', source: '::ffff:127.0.0.9', destination: '::ffff:127.0.0.1', destinationPort: 8001 },
  },
  { name: 'v1 UNKNOWN short form', frame: bytes('PROXY UNKNOWN\r\n'), want: { version: 1, command: 'proxy', family: 'unknown', source: undefined } },
  {
    name: 'v1 UNKNOWN worst case (107 bytes)',
    frame: bytes('PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n'),
    want: { family: 'unknown' },
  },
  {
    // 192.168.0.1:56324 → 192.168.0.11:443, the v1 example in binary.
    name: 'v2 PROXY TCP4',
    frame: bytes(SIG, [0x21, 0x11, 0x00, 0x0c], [0xc0, 0xa8, 0x00, 0x01], [0xc0, 0xa8, 0x00, 0x0b], [0xdc, 0x04], [0x01, 0xbb]),
    want: { version: 2, command: 'proxy', family: 'tcp4', source: '192.168.0.1', sourcePort: 56324, destination: '192.168.0.11', destinationPort: 443 },
  },
  {
    // As captured from HAProxy's send-proxy-v2: 172.19.0.1:42578 → 172.19.0.3:80.
    name: 'v2 PROXY TCP4 (a published HAProxy capture)',
    frame: bytes(SIG, [0x21, 0x11, 0x00, 0x0c, 0xac, 0x13, 0x00, 0x01, 0xac, 0x13, 0x00, 0x03, 0xa6, 0x52, 0x00, 0x50]),
    want: { family: 'tcp4', source: '172.19.0.1', sourcePort: 42578, destination: '172.19.0.3', destinationPort: 80 },
  },
  {
    // Captured from Debian's HAProxy 2.6 (send-proxy-v2): 127.0.0.9:39938 → 127.0.0.1:31122.
    name: 'v2 PROXY TCP4 (HAProxy 2.6 capture)',
    frame: Buffer.from('0d0a0d0a000d0a515549540a' + '2111000c' + '7f000009' + '7f000001' + '9c02' + '7992', 'hex'),
    want: { family: 'tcp4', source: '127.0.0.9', sourcePort: 39938, destination: '127.0.0.1', destinationPort: 31122 },
  },
  // Its health checks: v2 LOCAL with no address block; v1 a PROXY line with its own addresses.
  { name: 'v2 LOCAL (HAProxy 2.6 check)', frame: Buffer.from('0d0a0d0a000d0a515549540a20000000', 'hex'), want: { command: 'local', family: 'unknown' } },
  {
    name: 'v1 TCP4 (HAProxy 2.6 check)',
    frame: bytes('PROXY TCP4 127.0.0.2 127.0.0.1 33894 31111\r\n'),
    want: { command: 'proxy', family: 'tcp4', source: '127.0.0.2', sourcePort: 33894, destination: '127.0.0.1', destinationPort: 31111 },
  },
  {
    // 2001:db8::1:1234 → ::1:8080, plus a PP2_TYPE_NOOP TLV (type 4, length 3) that is skipped.
    name: 'v2 PROXY TCP6 with a TLV',
    frame: bytes(SIG, [0x21, 0x21, 0x00, 0x2a], [0x20, 0x01, 0x0d, 0xb8], Z(11), [0x01], Z(15), [0x01], [0x04, 0xd2], [0x1f, 0x90], [0x04, 0x00, 0x03, 0, 0, 0]),
    want: { version: 2, family: 'tcp6', source: '2001:db8::1', sourcePort: 1234, destination: '::1', destinationPort: 8080 },
  },
  {
    name: 'v2 PROXY TCP6 v4-mapped',
    frame: bytes(SIG, [0x21, 0x21, 0x00, 0x24], Z(10), [0xff, 0xff, 10, 1, 2, 3], Z(10), [0xff, 0xff, 127, 0, 0, 1], [0x00, 0x50], [0x1f, 0x41]),
    want: { family: 'tcp6', source: '::ffff:10.1.2.3', sourcePort: 80, destination: '::ffff:127.0.0.1', destinationPort: 8001 },
  },
  // LOCAL (health checks): addresses ignored, even when a block is present.
  { name: 'v2 LOCAL UNSPEC', frame: bytes(SIG, [0x20, 0x00, 0x00, 0x00]), want: { version: 2, command: 'local', family: 'unknown', source: undefined } },
  { name: 'v2 LOCAL with an address block', frame: bytes(SIG, [0x20, 0x11, 0x00, 0x0c], Z(12)), want: { command: 'local', family: 'unknown' } },
  { name: 'v2 LOCAL claiming TCP4 with no block', frame: bytes(SIG, [0x20, 0x11, 0x00, 0x00]), want: { command: 'local', family: 'unknown' } },
  // PROXY with something we do not carry: fall back to the socket's addresses.
  { name: 'v2 PROXY UNSPEC', frame: bytes(SIG, [0x21, 0x00, 0x00, 0x00]), want: { command: 'proxy', family: 'unknown' } },
  { name: 'v2 PROXY UDP4', frame: bytes(SIG, [0x21, 0x12, 0x00, 0x0c], Z(12)), want: { command: 'proxy', family: 'unknown' } },
  { name: 'v2 PROXY UNIX stream', frame: bytes(SIG, [0x21, 0x31, 0x00, 0xd8], Z(216)), want: { command: 'proxy', family: 'unknown' } },
  { name: 'v2 largest accepted (1024 bytes after the fixed part)', frame: bytes(SIG, [0x21, 0x11, 0x04, 0x00], [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2], Z(1012)), want: { family: 'tcp4', source: '1.2.3.4', destinationPort: 2 } },
];

test('valid v1 and v2 headers parse, leaving the bytes after them', () => {
  for (const v of VALID) {
    const r = parseProxyHeader(Buffer.concat([v.frame, Buffer.from('GET / HTTP/1.1\r\n')]));
    assert.equal(r.kind, 'ok', `${v.name}: ${JSON.stringify(r)}`);
    assert.ok(r.kind === 'ok');
    assert.equal(r.headerLength, v.frame.length, v.name);
    for (const [k, want] of Object.entries(v.want)) assert.equal((r as Record<string, unknown>)[k], want, `${v.name}: ${k}`);
  }
});

test('lengths from the spec: 104-byte TCP6 line, 107-byte UNKNOWN line, 16-byte LOCAL', () => {
  assert.equal(VALID.find((v) => v.name.includes('104'))!.frame.length, 104);
  assert.equal(VALID.find((v) => v.name.includes('107'))!.frame.length, V1_MAX_BYTES);
  assert.equal(VALID.find((v) => v.name === 'v2 LOCAL UNSPEC')!.frame.length, 16);
});

test('every split point: each proper prefix needs more, byte-by-byte feeding ends at the header', () => {
  for (const v of VALID) {
    for (let n = 0; n < v.frame.length; n++) assert.equal(parseProxyHeader(v.frame.subarray(0, n)).kind, 'more', `${v.name}: prefix ${n}`);
    // Feed one byte at a time into a growing buffer, as a socket might.
    let acc = Buffer.alloc(0);
    let r = parseProxyHeader(acc);
    for (const b of v.frame) {
      assert.equal(r.kind, 'more', v.name);
      acc = Buffer.concat([acc, Buffer.from([b])]);
      r = parseProxyHeader(acc);
    }
    assert.ok(r.kind === 'ok' && r.headerLength === v.frame.length, v.name);
  }
});

const MALFORMED: Array<[string, Buffer]> = [
  ['HTTP request', bytes('GET / HTTP/1.1\r\n\r\n')],
  ['SOCKS5 greeting', bytes([5, 1, 0])],
  ['PROXY without space', bytes('PROXY\r\n')],
  ['lower-case proxy', bytes('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n')],
  ['lower-case family', bytes('PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n')],
  ['unknown family', bytes('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n')],
  ['UNKNOWN glued', bytes('PROXY UNKNOWNX\r\n')],
  ['empty family', bytes('PROXY \r\n')],
  ['double space', bytes('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n')],
  ['trailing space', bytes('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n')],
  ['tab separator', bytes('PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n')],
  ['missing port', bytes('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n')],
  ['extra field', bytes('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n')],
  ['leading zero in octet', bytes('PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n')],
  ['octet 256', bytes('PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n')],
  ['three octets', bytes('PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n')],
  ['hex octet', bytes('PROXY TCP4 0x7f.0.0.1 5.6.7.8 1 2\r\n')],
  ['leading zero in port', bytes('PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n')],
  ['port 65536', bytes('PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n')],
  ['negative port', bytes('PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n')],
  ['signed port', bytes('PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n')],
  ['six-digit port', bytes('PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n')],
  ['TCP4 with IPv6 addresses', bytes('PROXY TCP4 ::1 ::1 1 2\r\n')],
  ['TCP6 with IPv4 addresses', bytes('PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n')],
  ['TCP6 with a zone', bytes('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n')],
  ['TCP6 with two ::', bytes('PROXY TCP6 1::2::3 ::1 1 2\r\n')],
  ['TCP6 with nine groups', bytes('PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n')],
  ['TCP6 in brackets', bytes('PROXY TCP6 [::1] ::1 1 2\r\n')],
  ['bare LF', bytes('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n')],
  ['CR without LF', bytes('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rGET')],
  ['NUL in line', bytes('PROXY TCP4 1.2.3.4\x005.6.7.8 1 2\r\n')],
  ['non-ASCII in line', bytes('PROXY UNKNOWN \xff\r\n')],
  ['no CRLF in 107 bytes', bytes('PROXY UNKNOWN ', 'a'.repeat(93))],
  ['CRLF just past 107 bytes', bytes('PROXY UNKNOWN ', 'a'.repeat(92), '\r\n')],
  ['v2 signature damaged', bytes(SIG.slice(0, 5), [0x0e], SIG.slice(6), [0x21, 0x11, 0, 12], Z(12))],
  ['v2 version 1', bytes(SIG, [0x11, 0x11, 0, 12], Z(12))],
  ['v2 version 3', bytes(SIG, [0x31, 0x11, 0, 12], Z(12))],
  ['v2 command 2', bytes(SIG, [0x22, 0x11, 0, 12], Z(12))],
  ['v2 command 15', bytes(SIG, [0x2f, 0x11, 0, 12], Z(12))],
  ['v2 family 4', bytes(SIG, [0x21, 0x41, 0, 12], Z(12))],
  ['v2 transport 3', bytes(SIG, [0x21, 0x13, 0, 12], Z(12))],
  ['v2 TCP4 block cut short', bytes(SIG, [0x21, 0x11, 0, 8], Z(8))],
  ['v2 TCP6 block cut short', bytes(SIG, [0x21, 0x21, 0, 12], Z(12))],
  ['v2 UNIX block cut short', bytes(SIG, [0x21, 0x31, 0, 36], Z(36))],
  ['v2 UDP4 block cut short', bytes(SIG, [0x21, 0x12, 0, 4], Z(4))],
  ['v2 too long (1025)', bytes(SIG, [0x21, 0x11, 0x04, 0x01])],
  ['v2 too long (65535)', bytes(SIG, [0x21, 0x11, 0xff, 0xff])],
];

test('malformed headers are errors, decided without waiting for more bytes', () => {
  for (const [name, frame] of MALFORMED) {
    const r = parseProxyHeader(frame);
    assert.equal(r.kind, 'error', `${name}: ${JSON.stringify(r)}`);
    assert.ok(r.kind === 'error' && r.reason.length > 0);
  }
});

test('partial but plausible input waits; an over-long partial v1 line fails', () => {
  assert.equal(parseProxyHeader(bytes('PROXY TCP4 1.2.3.4')).kind, 'more');
  assert.equal(parseProxyHeader(bytes('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r')).kind, 'more');
  assert.equal(parseProxyHeader(bytes(SIG, [0x21, 0x11, 0x00, 0x0c], [1, 2, 3])).kind, 'more');
  assert.equal(parseProxyHeader(bytes('PROXY UNKNOWN ', 'a'.repeat(92))).kind, 'more'); // 106 bytes
  assert.equal(parseProxyHeader(bytes('PROXY UNKNOWN ', 'a'.repeat(92), '\r')).kind, 'error'); // CRLF would end at 108
  assert.equal(MAX_HEADER_BYTES, 1040);
});

test('proxySignature tells a PROXY header from anything else as early as possible', () => {
  assert.equal(proxySignature(bytes('PROXY ')), 'v1');
  assert.equal(proxySignature(bytes('PROXY TCP4 garbage')), 'v1');
  assert.equal(proxySignature(bytes(SIG)), 'v2');
  assert.equal(proxySignature(bytes('')), 'more');
  assert.equal(proxySignature(bytes('PROX')), 'more');
  assert.equal(proxySignature(bytes(SIG.slice(0, 11))), 'more');
  assert.equal(proxySignature(bytes('POST / HTTP/1.1\r\n')), 'none');
  assert.equal(proxySignature(bytes('PROXYZ')), 'none');
  assert.equal(proxySignature(bytes('\r\n\r\nGET')), 'none');
  assert.equal(proxySignature(bytes([5, 1, 0])), 'none');
  assert.equal(proxySignature(bytes([0x16, 3, 1])), 'none');
});

test('formatIPv6 matches what Node reports for a socket address', () => {
  const b = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));
  assert.equal(formatIPv6(b('00000000000000000000000000000001')), '::1');
  assert.equal(formatIPv6(b('00000000000000000000000000000000')), '::');
  assert.equal(formatIPv6(b('20010db8000000000001000000000001')), '2001:db8::1:0:0:1');
  assert.equal(formatIPv6(b('20010db8000100000001000100010001')), '2001:db8:1:0:1:1:1:1'); // a single zero group stays
  assert.equal(formatIPv6(b('fe800000000000000000000000000000')), 'fe80::');
  assert.equal(formatIPv6(b('00000000000000000000ffff7f000009')), '::ffff:127.0.0.9');
});

/** mulberry32: a small seeded PRNG so the fuzz run is the same every time. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('fuzz: 20k random and mutated inputs never throw and never claim bytes they were not given', () => {
  const rnd = prng(0x5eed1234);
  const int = (n: number): number => Math.floor(rnd() * n);
  const seeds = [...VALID.map((v) => v.frame), ...MALFORMED.map(([, f]) => f)];
  const ALPHABET = Buffer.from('PROXY TCP46UNKOWN0123456789abcdefABCDEF:. \r\n', 'latin1');
  let oks = 0;
  for (let i = 0; i < 20_000; i++) {
    let input: Buffer;
    const mode = int(4);
    if (mode === 0) {
      input = Buffer.from(Array.from({ length: int(64) }, () => int(256)));
    } else if (mode === 1) {
      // A signature followed by noise.
      input = Buffer.concat([rnd() < 0.5 ? bytes('PROXY ') : bytes(SIG), Buffer.from(Array.from({ length: int(120) }, () => (rnd() < 0.7 ? ALPHABET[int(ALPHABET.length)]! : int(256))))]);
    } else {
      // A known header, mutated: flip, insert, delete or truncate.
      const s = Buffer.from(seeds[int(seeds.length)]!);
      const arr = [...s];
      for (let m = 1 + int(3); m > 0; m--) {
        const at = int(arr.length + 1);
        switch (int(4)) {
          case 0:
            if (at < arr.length) arr[at] = rnd() < 0.5 ? int(256) : ALPHABET[int(ALPHABET.length)]!;
            break;
          case 1:
            arr.splice(at, 0, ALPHABET[int(ALPHABET.length)]!);
            break;
          case 2:
            arr.splice(at, 1);
            break;
          default:
            arr.length = Math.min(arr.length, at);
        }
      }
      input = Buffer.from(arr);
    }
    let r;
    try {
      r = parseProxyHeader(input);
    } catch (err) {
      assert.fail(`threw on ${input.toString('hex')}: ${(err as Error).message}`);
    }
    assert.ok(r.kind === 'more' || r.kind === 'ok' || r.kind === 'error');
    if (r.kind === 'more') assert.ok(input.length < MAX_HEADER_BYTES, 'more is bounded');
    if (r.kind === 'ok') {
      oks++;
      assert.ok(r.headerLength > 0 && r.headerLength <= input.length, `headerLength ${r.headerLength} of ${input.length}`);
      // The header alone decides: the same answer without the bytes after it.
      assert.deepEqual(parseProxyHeader(input.subarray(0, r.headerLength)), r);
      if (r.family !== 'unknown') {
        assert.equal(isIP(r.source!), r.family === 'tcp4' ? 4 : 6);
        assert.equal(isIP(r.destination!), r.family === 'tcp4' ? 4 : 6);
        assert.ok(r.sourcePort! >= 0 && r.sourcePort! <= 65535 && r.destinationPort! >= 0 && r.destinationPort! <= 65535);
      } else {
        assert.equal(r.source, undefined);
      }
    }
  }
  assert.ok(oks > 100, `the fuzz reached valid headers too (${oks})`);
});

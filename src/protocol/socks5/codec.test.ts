import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeAddress, encodeReply, encodeRequest, encodeUserPass, ipv6FromBytes, ipv6ToBytes,
  parseGreeting, parseReply, parseRequest, parseUserPass, type Request,
} from './codec.js';
import { encodeUdpDatagram, parseUdpDatagram, udpDatagramFits, udpHeaderLength } from './udp-header.js';
import type { Parse } from '../parse.js';

/** Every strict prefix must ask for more; the whole frame must parse to `expected`. */
function splitEverywhere<T>(parse: (b: Buffer) => Parse<T>, frame: Buffer, expected: T): void {
  for (let n = 0; n < frame.length; n++) assert.equal(parse(frame.subarray(0, n)).kind, 'more', `prefix ${n}`);
  const withExtra = Buffer.concat([frame, Buffer.from('extra')]);
  const r = parse(withExtra);
  assert.equal(r.kind, 'ok');
  if (r.kind === 'ok') {
    assert.deepEqual(r.value, expected);
    assert.equal(r.consumed, frame.length, 'does not consume pipelined bytes');
  }
}

test('greeting parses at every split', () => {
  splitEverywhere(parseGreeting, Buffer.from([5, 2, 0, 2]), { methods: [0, 2] });
});

test('greeting: wrong version and zero methods are errors', () => {
  assert.equal(parseGreeting(Buffer.from([4, 1, 0])).kind, 'error');
  assert.equal(parseGreeting(Buffer.from([5, 0])).kind, 'error');
});

test('RFC 1929 user/pass parses at every split, UTF-8 and max lengths', () => {
  splitEverywhere(parseUserPass, encodeUserPass('user-bob-country-us', 'pässwörd'), { username: 'user-bob-country-us', password: 'pässwörd' });
  const u = 'u'.repeat(255);
  const p = 'p'.repeat(255);
  splitEverywhere(parseUserPass, encodeUserPass(u, p), { username: u, password: p });
  splitEverywhere(parseUserPass, encodeUserPass('bob', ''), { username: 'bob', password: '' });
  assert.throws(() => encodeUserPass('x'.repeat(256), ''));
  assert.equal(parseUserPass(Buffer.from([2, 1, 0x61, 0])).kind, 'error');
  assert.equal(parseUserPass(Buffer.from([1, 0, 0])).kind, 'error');
});

test('requests for IPv4, IPv6 and domain targets parse at every split', () => {
  const cases: Request[] = [
    { cmd: 1, target: { host: '192.0.2.7', port: 443, kind: 'ipv4' } },
    { cmd: 1, target: { host: '2001:db8::1', port: 80, kind: 'ipv6' } },
    { cmd: 3, target: { host: 'example.com', port: 53, kind: 'domain' } },
  ];
  for (const c of cases) splitEverywhere(parseRequest, encodeRequest(c.cmd, c.target.host, c.target.port), c);
});

test('a domain field holding an IP literal is treated as that IP', () => {
  const frame = Buffer.concat([Buffer.from([5, 1, 0, 3, 9]), Buffer.from('127.0.0.1'), Buffer.from([0, 80])]);
  const r = parseRequest(frame);
  assert.ok(r.kind === 'ok' && r.value.target.kind === 'ipv4');
});

test('request errors: unknown ATYP → ADDRTYPE_UNSUPPORTED, empty or invalid domain → BAD_REQUEST', () => {
  const r1 = parseRequest(Buffer.from([5, 1, 0, 9, 1, 2, 3, 4, 0, 80]));
  assert.ok(r1.kind === 'error' && r1.code === 'ADDRTYPE_UNSUPPORTED');
  const r2 = parseRequest(Buffer.from([5, 1, 0, 3, 0, 0, 80]));
  assert.ok(r2.kind === 'error' && r2.code === 'BAD_REQUEST');
  const bad = Buffer.from('a b\r\n');
  const r3 = parseRequest(Buffer.concat([Buffer.from([5, 1, 0, 3, bad.length]), bad, Buffer.from([0, 80])]));
  assert.ok(r3.kind === 'error' && r3.code === 'BAD_REQUEST');
  assert.equal(parseRequest(Buffer.from([4, 1, 0, 1])).kind, 'error');
});

test('replies round-trip, including the zero bind address', () => {
  const r = parseReply(encodeReply(0, { host: '127.0.0.3', port: 40000 }));
  assert.ok(r.kind === 'ok' && r.value.rep === 0 && r.value.bind.host === '127.0.0.3' && r.value.bind.port === 40000);
  const z = parseReply(encodeReply(5));
  assert.ok(z.kind === 'ok' && z.value.rep === 5 && z.value.bind.host === '0.0.0.0');
  const v6 = parseReply(encodeReply(0, { host: '::1', port: 1 }));
  assert.ok(v6.kind === 'ok' && v6.value.bind.host === '::1');
});

test('IPv6 byte conversion is canonical and handles embedded IPv4', () => {
  for (const h of ['::1', '2001:db8::8:800:200c:417a', 'fe80::1', '::', '1:2:3:4:5:6:7:8']) {
    assert.equal(ipv6FromBytes(ipv6ToBytes(h)), h);
  }
  assert.deepEqual([...ipv6ToBytes('::ffff:1.2.3.4').subarray(10)], [0xff, 0xff, 1, 2, 3, 4]);
  assert.equal(encodeAddress('::ffff:1.2.3.4', 1).length, 1 + 16 + 2);
});

test('UDP datagram header round-trips; fragments and bad RSV are refused', () => {
  const d = encodeUdpDatagram({ host: 'example.org', port: 53 }, Buffer.from('q'));
  const r = parseUdpDatagram(d);
  assert.ok(r.kind === 'ok' && r.value.target.host === 'example.org' && r.value.data.toString() === 'q');
  const frag = Buffer.from(d);
  frag[2] = 1;
  assert.equal(parseUdpDatagram(frag).kind, 'error');
  const rsv = Buffer.from(d);
  rsv[0] = 1;
  assert.equal(parseUdpDatagram(rsv).kind, 'error');
  assert.equal(parseUdpDatagram(Buffer.from([0, 0, 0, 1, 1])).kind, 'error');
});

test('udpHeaderLength is the header encodeUdpDatagram writes, for every address type', () => {
  for (const host of ['127.0.0.1', '::1', '2001:db8::1', '::', 'example.org', 'x'.repeat(255)]) {
    assert.equal(udpHeaderLength(host), encodeUdpDatagram({ host, port: 53 }, Buffer.alloc(0)).length, host.slice(0, 20));
  }
});

test('udpDatagramFits: the header counts only near the limit, and exactly there', () => {
  assert.equal(udpDatagramFits('127.0.0.1', 65_497, 65_507), true); // 10 + 65,497
  assert.equal(udpDatagramFits('127.0.0.1', 65_498, 65_507), false);
  assert.equal(udpDatagramFits('::1', 65_505, 65_527), true); // 22 + 65,505
  assert.equal(udpDatagramFits('::1', 65_506, 65_527), false);
  assert.equal(udpDatagramFits('x'.repeat(255), 65_535 - 262, 65_535), true);
  assert.equal(udpDatagramFits('x'.repeat(255), 65_535 - 261, 65_535), false);
  assert.equal(udpDatagramFits('not even parsed', 100, 65_507), true);
});

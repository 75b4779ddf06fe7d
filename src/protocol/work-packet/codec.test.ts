import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodePacket, HEADER_BYTES, MAX_BODY_BYTES, MAX_PACKET_BYTES, MODES, parsePacket, type WorkPacket } from './codec.js';
import { acceptedPacket, linkOpenContext, parseLinkOpen, parseRegistration, parseRequest, parseResponse, registrationPacket, requestPacket, responsePacket, resultCode } from './messages.js';

/** The refusal text a parser returned (fails the test when it parsed instead). */
function refusal(r: unknown): string {
  assert.ok(typeof r === 'string', `expected a refusal, got ${JSON.stringify(r)}`);
  return r;
}

function parsed(b: Buffer): { value: WorkPacket; consumed: number } {
  const r = parsePacket(b);
  assert.equal(r.kind, 'ok', r.kind === 'error' ? r.message : 'incomplete');
  return r;
}

test('layout: header fields at their documented offsets', () => {
  const b = encodePacket({ mode: 'request', id: 0x01020304, props: { host: 'a', port: 80 }, body: Buffer.from('xy') });
  assert.deepEqual([...b.subarray(0, HEADER_BYTES)], [0x48, 0x57, 1, 1, 1, 2, 3, 4, 0, 17, 0, 0, 0, 2]);
  // props: [4]'host'[0,1]'a' [4]'port'[0,2]'80'
  assert.deepEqual(b.subarray(HEADER_BYTES, HEADER_BYTES + 17), Buffer.from([4, ...Buffer.from('host'), 0, 1, 0x61, 4, ...Buffer.from('port'), 0, 2, 0x38, 0x30]));
  assert.equal(b.subarray(HEADER_BYTES + 17).toString(), 'xy');
});

test('round trip: every mode, properties and body; trailing bytes are not consumed', () => {
  for (const mode of MODES) {
    const body = Buffer.from(`body of ${mode}`);
    const b = encodePacket({ mode, id: 7, props: { a: 'é', 'k-2': '' }, body });
    const { value, consumed } = parsed(Buffer.concat([b, Buffer.from('RAW BYTES')]));
    assert.equal(consumed, b.length);
    assert.equal(value.mode, mode);
    assert.equal(value.id, 7);
    assert.equal(value.props.get('a'), 'é');
    assert.equal(value.props.get('k-2'), '');
    assert.deepEqual(value.body, body);
  }
});

test('incomplete input asks for more, at every split point', () => {
  const b = encodePacket({ mode: 'direct-data', id: 1, props: { host: 'h', port: 1 }, body: Buffer.alloc(100, 1) });
  for (let n = 0; n < b.length; n++) assert.equal(parsePacket(b.subarray(0, n)).kind, 'more', `at ${n}`);
});

test('malformed: magic, version, mode, bounds, property framing', () => {
  const good = encodePacket({ mode: 'empty', props: { exit: 'x' } });
  const bad = (mutate: (b: Buffer) => void): string => {
    const b = Buffer.from(good);
    mutate(b);
    const r = parsePacket(b);
    assert.equal(r.kind, 'error');
    return (r as { message: string }).message;
  };
  assert.match(bad((b) => (b[0] = 0x47)), /magic/);
  assert.match(bad((b) => (b[2] = 2)), /version 2/);
  assert.match(bad((b) => (b[3] = 9)), /mode 9/);
  assert.match(bad((b) => b.writeUInt32BE(MAX_BODY_BYTES + 1, 10)), /body too large/);
  assert.match(bad((b) => b.writeUInt16BE(0xffff, 8)), /properties too large/);
  assert.match(bad((b) => (b[HEADER_BYTES] = 0)), /truncated/);
  assert.match(bad((b) => (b[HEADER_BYTES + 1] = 0x41)), /key invalid/);
  // A first byte that cannot start the magic fails at once (an HTTP client on the tunnel port).
  assert.equal(parsePacket(Buffer.from('G')).kind, 'error');
  // Duplicate keys are refused.
  const dup = Buffer.concat([good.subarray(0, HEADER_BYTES), good.subarray(HEADER_BYTES), good.subarray(HEADER_BYTES)]);
  dup.writeUInt16BE(2 * (good.length - HEADER_BYTES), 8);
  assert.match((parsePacket(dup) as { message: string }).message, /twice/);
});

test('messages: registration, request, direct-data, response', () => {
  const reg = parseRegistration(parsed(registrationPacket({ exit: 'office-1', token: 't0k' })).value);
  assert.deepEqual(reg, { exit: 'office-1', token: 't0k', link: false });
  assert.match(refusal(parseRegistration(parsed(encodePacket({ mode: 'empty', props: { exit: 'a b', token: 'x' } })).value)), /exit id/);
  const req = parseRequest(parsed(requestPacket(3, { target: { host: '10.1.2.3', port: 80, kind: 'ipv4' }, purpose: 'publish', early: Buffer.from('GET / HTTP/1.1\r\n\r\n'), allowNets: ['10.0.0.0/8', '::1'] })).value);
  assert.ok(typeof req !== 'string');
  assert.equal(req.target.kind, 'ipv4');
  assert.equal(req.purpose, 'publish');
  assert.equal(req.early.toString(), 'GET / HTTP/1.1\r\n\r\n');
  assert.deepEqual(req.allowNets, ['10.0.0.0/8', '::1']);
  assert.deepEqual(req.denyNets, []);
  assert.match(refusal(parseRequest(parsed(encodePacket({ mode: 'request', props: { host: 'a.b', port: 1, 'deny-nets': 'x y' } })).value)), /bad network/);
  assert.match(refusal(parseRequest(parsed(encodePacket({ mode: 'request', props: { host: 'bad host', port: 1 } })).value)), /bad host/);
  assert.match(refusal(parseRequest(parsed(encodePacket({ mode: 'request', props: { host: 'a.b', port: 0 } })).value)), /bad port/);
  assert.deepEqual(parseResponse(parsed(responsePacket(3, { ok: true, bind: '127.0.0.5:4000' })).value), { ok: true, bind: '127.0.0.5:4000' });
  const no = parseResponse(parsed(responsePacket(3, { ok: false, code: 'CONN_REFUSED', message: 'refused' })).value);
  assert.deepEqual(no, { ok: false, code: 'CONN_REFUSED', message: 'refused' });
  assert.equal(resultCode('CONN_REFUSED'), 'CONN_REFUSED');
  assert.equal(resultCode('AUTH_FAILED'), 'EXIT_UNREACHABLE'); // an exit cannot make a customer's login fail
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

test('fuzz: 20k random and mutated inputs never throw, stay bounded, and never claim bytes they were not given', () => {
  const rnd = prng(0x5eed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const seeds = [
    registrationPacket({ exit: 'office-1', token: 'secret' }),
    requestPacket(9, { target: { host: 'example.com', port: 443, kind: 'domain' }, purpose: 'connect', denyNets: ['10.0.0.0/8'] }),
    requestPacket(9, { target: { host: '::1', port: 8080, kind: 'ipv6' }, purpose: 'publish', early: Buffer.from('GET / HTTP/1.1\r\nHost: wiki\r\n\r\n') }),
    responsePacket(9, { ok: false, code: 'TIMEOUT', message: 'slow' }),
    encodePacket({ mode: 'heartbeat', id: 0xffffffff }),
  ];
  let oks = 0;
  for (let i = 0; i < 20_000; i++) {
    let b: Buffer;
    if (i % 4 === 0) {
      b = Buffer.alloc(int(64));
      for (let j = 0; j < b.length; j++) b[j] = int(256);
      if (b.length >= 2 && i % 8 === 0) b.writeUInt16BE(0x4857, 0); // get past the magic often
    } else {
      b = Buffer.from(seeds[int(seeds.length)]!);
      const flips = 1 + int(4);
      for (let f = 0; f < flips; f++) b[int(b.length)] = int(256);
      if (i % 3 === 0) b = b.subarray(0, int(b.length + 1));
    }
    const r = parsePacket(b);
    if (r.kind === 'ok') {
      oks++;
      assert.ok(r.consumed > 0 && r.consumed <= b.length && r.consumed <= MAX_PACKET_BYTES);
      // Whatever parses as a packet is safe to interpret: the message checks never throw either.
      parseRegistration(r.value);
      parseRequest(r.value);
      parseResponse(r.value);
    } else if (r.kind === 'error') {
      assert.equal(r.code, 'BAD_REQUEST');
    }
  }
  assert.ok(oks > 1000, `the fuzz reached valid packets too (${oks})`);
});

test('links (issue 19): the registration asks with link=1, the acceptance agrees with link=1; both absent by default', () => {
  assert.deepEqual(parseRegistration(parsed(registrationPacket({ exit: 'e1', token: 't', link: true })).value), { exit: 'e1', token: 't', link: true });
  assert.deepEqual(parseRegistration(parsed(registrationPacket({ exit: 'e1', token: 't' })).value), { exit: 'e1', token: 't', link: false });
  assert.equal(parsed(acceptedPacket(1000, true)).value.props.get('link'), '1');
  assert.equal(parsed(acceptedPacket(1000)).value.props.has('link'), false);
});

test('links: a stream OPEN is judged as a request packet is (host, port, purpose, networks)', () => {
  const ctx = new Map(Object.entries(linkOpenContext({ purpose: 'publish', allowNets: ['10.0.0.0/8'], denyNets: ['10.9.0.0/16'] })));
  const r = parseLinkOpen('example.com', 443, ctx);
  assert.ok(typeof r !== 'string');
  assert.deepEqual([r.target.host, r.target.port, r.purpose, r.allowNets, r.denyNets], ['example.com', 443, 'publish', ['10.0.0.0/8'], ['10.9.0.0/16']]);
  assert.match(refusal(parseLinkOpen('bad host!', 80, new Map())), /bad host/);
  assert.match(refusal(parseLinkOpen('a.example', 0, new Map())), /bad port/);
  assert.match(refusal(parseLinkOpen('a.example', 80, new Map([['purpose', 'shell']]))), /unknown purpose/);
  assert.match(refusal(parseLinkOpen('a.example', 80, new Map([['allow-nets', '10.0.0.0/8;rm']]))), /bad network/);
  // The OPEN's own props cannot override the target the frame names.
  const spoof = parseLinkOpen('a.example', 80, new Map([['host', 'evil.example'], ['port', '22']]));
  assert.ok(typeof spoof !== 'string');
  assert.deepEqual([spoof.target.host, spoof.target.port], ['a.example', 80]);
});

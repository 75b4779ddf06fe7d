import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FrameReader,
  HEADER_BYTES,
  MAX_DATAGRAM_PAYLOAD,
  MAX_FRAME_PAYLOAD,
  PREFACE,
  dataHeader,
  datagramFrame,
  finFrame,
  goawayFrame,
  openFrame,
  openOkFrame,
  parseFrame,
  pingFrame,
  rstFrame,
  windowFrame,
  type Frame,
} from './codec.js';

const opaque = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
const payload = Buffer.from('hello, link');

/** One frame of every type, with what it must parse to. */
const SAMPLES: ReadonlyArray<readonly [Buffer, Frame]> = [
  [openFrame(1, { host: 'example.com', port: 443, window: 65536, purpose: 'connect' }), { type: 'open', stream: 1, props: new Map([['host', 'example.com'], ['port', '443'], ['window', '65536'], ['purpose', 'connect']]) }],
  [openOkFrame(1, { status: 'CONN_REFUSED', message: 'é' }), { type: 'open-ok', stream: 1, props: new Map([['status', 'CONN_REFUSED'], ['message', 'é']]) }],
  [Buffer.concat([dataHeader(3, payload.length), payload]), { type: 'data', stream: 3, data: payload }],
  [Buffer.concat([dataHeader(5, 0)]), { type: 'data', stream: 5, data: Buffer.alloc(0) }],
  [windowFrame(3, 0x7fffffff), { type: 'window', stream: 3, increment: 0x7fffffff }],
  [finFrame(0xfffffffe), { type: 'fin', stream: 0xfffffffe }],
  [rstFrame(7, { code: 'CANCEL' }), { type: 'rst', stream: 7, props: new Map([['code', 'CANCEL']]) }],
  [pingFrame(false, opaque), { type: 'ping', stream: 0, ack: false, opaque }],
  [pingFrame(true, opaque), { type: 'ping', stream: 0, ack: true, opaque }],
  [goawayFrame(9, { code: 'SHUTTING_DOWN', message: 'reload' }), { type: 'goaway', stream: 0, lastStream: 9, props: new Map([['code', 'SHUTTING_DOWN'], ['message', 'reload']]) }],
  [datagramFrame(11, { host: '127.0.0.9', port: 53 }, payload), { type: 'datagram', stream: 11, address: { host: '127.0.0.9', port: 53, kind: 'ipv4' }, data: payload }],
  [datagramFrame(11, { host: '::1', port: 5353 }, Buffer.alloc(0)), { type: 'datagram', stream: 11, address: { host: '::1', port: 5353, kind: 'ipv6' }, data: Buffer.alloc(0) }],
  [datagramFrame(13, { host: 'dns.example', port: 853 }, payload), { type: 'datagram', stream: 13, address: { host: 'dns.example', port: 853, kind: 'domain' }, data: payload }],
];

function error(b: Buffer): string {
  const r = parseFrame(b);
  assert.equal(r.kind, 'error', `expected a refusal of ${b.toString('hex').slice(0, 40)}`);
  return r.kind === 'error' ? r.message : '';
}

test('layout: type, stream id and length at their documented offsets', () => {
  const b = Buffer.concat([dataHeader(0x01020304, 2), Buffer.from('xy')]);
  assert.deepEqual([...b.subarray(0, HEADER_BYTES)], [3, 1, 2, 3, 4, 0, 0, 0, 2]);
  assert.deepEqual([...PREFACE], [0x48, 0x4c, 1, 0]);
});

test('round trip: every frame type; trailing bytes are not consumed', () => {
  for (const [bytes, want] of SAMPLES) {
    const r = parseFrame(Buffer.concat([bytes, Buffer.from([9, 9, 9])]));
    assert.equal(r.kind, 'ok', r.kind === 'error' ? r.message : 'incomplete');
    if (r.kind !== 'ok') continue;
    assert.deepEqual(r.value, want);
    assert.equal(r.consumed, bytes.length);
  }
});

test('every proper prefix of a frame is incomplete, never an error or a frame', () => {
  for (const [bytes] of SAMPLES) {
    for (let i = 0; i < bytes.length; i++) assert.equal(parseFrame(bytes.subarray(0, i)).kind, 'more', `prefix ${i} of type ${bytes[0]}`);
  }
});

/** DATA may arrive in pieces (the reader passes a payload on as it comes): adjacent pieces of one stream joined. */
function joinData(frames: readonly Frame[]): Frame[] {
  const out: Frame[] = [];
  for (const f of frames) {
    const last = out[out.length - 1];
    if (f.type === 'data' && last?.type === 'data' && last.stream === f.stream) out[out.length - 1] = { ...last, data: Buffer.concat([last.data, f.data]) };
    else out.push(f.type === 'data' ? { ...f, data: Buffer.from(f.data) } : f);
  }
  return out.filter((f) => f.type !== 'data' || f.data.length > 0);
}

test('reader: the preface and all frames, split at every offset and fed byte by byte, give the same frames', () => {
  const stream = Buffer.concat([PREFACE, ...SAMPLES.map(([b]) => b)]);
  const want = joinData(SAMPLES.map(([, f]) => f));
  for (let cut = 0; cut <= stream.length; cut++) {
    const r = new FrameReader();
    const a = r.push(stream.subarray(0, cut));
    const b = r.push(stream.subarray(cut));
    assert.ok(Array.isArray(a) && Array.isArray(b), `cut at ${cut}`);
    assert.deepEqual(joinData([...a, ...b]), want, `cut at ${cut}`);
  }
  const r = new FrameReader();
  const got: Frame[] = [];
  for (let i = 0; i < stream.length; i++) {
    const f = r.push(stream.subarray(i, i + 1));
    assert.ok(Array.isArray(f));
    got.push(...f);
  }
  assert.deepEqual(joinData(got), want);
});

test('reader: a largest DATA frame in TLS-record-sized pieces is passed on piece by piece, as views of the chunks (no join, no copy)', () => {
  const data = Buffer.alloc(MAX_FRAME_PAYLOAD);
  for (let i = 0; i < data.length; i++) data[i] = i % 251;
  const bytes = Buffer.concat([PREFACE, dataHeader(1, data.length), data, finFrame(1), dataHeader(3, 5), Buffer.from('hello')]);
  const r = new FrameReader();
  const got: Frame[] = [];
  // Each chunk in its own memory, as TLS records arrive.
  for (let i = 0; i < bytes.length; i += 16_384) {
    const chunk = Buffer.from(bytes.subarray(i, i + 16_384));
    const f = r.push(chunk);
    assert.ok(Array.isArray(f));
    for (const fr of f) if (fr.type === 'data') assert.equal(fr.data.buffer, chunk.buffer, 'a DATA piece is a view of the chunk it came in');
    got.push(...f);
  }
  assert.ok(got.filter((f) => f.type === 'data' && f.stream === 1).length >= 4, 'the 64 KiB payload came in pieces');
  assert.deepEqual(joinData(got), [{ type: 'data', stream: 1, data }, { type: 'fin', stream: 1 }, { type: 'data', stream: 3, data: Buffer.from('hello') }]);
});

test('reader: a chunk whose memory is reused after push (a read slab): what it keeps for later is copied, only DATA views point into the chunk', () => {
  const big = Buffer.alloc(40_000, 7);
  const stream = Buffer.concat([PREFACE, ...SAMPLES.map(([b]) => b), datagramFrame(9, { host: 'example.com', port: 53 }, big), openFrame(11, { host: 'a.example', port: 1, window: 1 })]);
  for (const size of [1, 5, 13, 100, 16_384]) {
    const slab = Buffer.alloc(16_384);
    const r = new FrameReader();
    const got: Frame[] = [];
    for (let i = 0; i < stream.length; i += size) {
      const n = stream.subarray(i, i + size).copy(slab);
      const f = r.push(slab.subarray(0, n), true);
      assert.ok(Array.isArray(f));
      // A consumer done with the views before the next read (the link session's writer releases them then).
      for (const fr of f) got.push(fr.type === 'data' || fr.type === 'datagram' ? { ...fr, data: Buffer.from(fr.data) } : fr);
      slab.fill(0xee);
    }
    const want = joinData([...SAMPLES.map(([, f]) => f), { type: 'datagram', stream: 9, address: { kind: 'domain', host: 'example.com', port: 53 }, data: big }, { type: 'open', stream: 11, props: new Map([['host', 'a.example'], ['port', '1'], ['window', '1']]) }]);
    assert.deepEqual(joinData(got), want, `chunks of ${size}`);
  }
});

test('reader: a DATA header split from its payload still has its length checked first, and a hostile length is refused before any piece', () => {
  const h = dataHeader(1, 0);
  h.writeUInt32BE(MAX_FRAME_PAYLOAD + 1, 5);
  const r = new FrameReader();
  assert.ok(Array.isArray(r.push(PREFACE)));
  assert.match((r.push(Buffer.concat([h, Buffer.alloc(100)])) as { error: string }).error, /too large/);
});

test('reader: a wrong preface or version is refused, and the reader stays failed', () => {
  const r = new FrameReader();
  assert.match((r.push(Buffer.from('GET / HTTP/1.1\r\n')) as { error: string }).error, /not a hopgate link/);
  assert.ok(!Array.isArray(r.push(Buffer.concat([PREFACE, finFrame(1)]))));
  assert.match((new FrameReader().push(Buffer.from([0x48, 0x4c, 2, 0])) as { error: string }).error, /version 2 not supported/);
  // A work packet ('HW') is not a link: the two protocols can be told apart by their first two bytes.
  assert.match((new FrameReader().push(Buffer.from('HW')) as { error: string }).error, /bad preface/);
});

test('limits: an oversized frame is refused from its header alone, before its payload is buffered', () => {
  const h = dataHeader(1, 0);
  h.writeUInt32BE(MAX_FRAME_PAYLOAD + 1, 5);
  assert.match(error(h), /too large \(65537 bytes, limit 65536\)/);
  assert.throws(() => dataHeader(1, MAX_FRAME_PAYLOAD + 1), RangeError);
});

test('malformed frames are refused with the reason', () => {
  assert.match(error(Buffer.from([0, 0, 0, 0, 1, 0, 0, 0, 0])), /unknown link frame type 0/);
  assert.match(error(Buffer.from([42])), /unknown link frame type 42/);
  const onZero = finFrame(1);
  onZero.writeUInt32BE(0, 1);
  assert.match(error(onZero), /on stream 0/);
  const ping = pingFrame(false, opaque);
  ping.writeUInt32BE(5, 1);
  assert.match(error(ping), /on stream 5 \(must be 0\)/);
  const win = windowFrame(1, 1);
  win.writeUInt32BE(0, HEADER_BYTES);
  assert.match(error(win), /increment 0 out of range/);
  win.writeUInt32BE(0x80000000, HEADER_BYTES);
  assert.match(error(win), /increment 2147483648 out of range/);
  assert.match(error(Buffer.concat([Buffer.from([4, 0, 0, 0, 1, 0, 0, 0, 2]), Buffer.from([0, 1])])), /WINDOW frame of 2 bytes/);
  assert.match(error(Buffer.from([5, 0, 0, 0, 1, 0, 0, 0, 1, 0])), /FIN frame with a payload/);
  assert.match(error(Buffer.from([7, 0, 0, 0, 0, 0, 0, 0, 1, 0])), /PING frame of 1 bytes/);
  assert.match(error(Buffer.from([8, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0])), /GOAWAY frame truncated/);
  // A props block that lies about its own lengths.
  assert.match(error(Buffer.from([1, 0, 0, 0, 1, 0, 0, 0, 3, 4, 0x68, 0x6f])), /property truncated/);
});

test('DATAGRAM: the largest UDP payload with the longest name fits one frame; more is refused on both sides', () => {
  const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
  const full = datagramFrame(1, { host: name, port: 1 }, Buffer.alloc(65_507));
  assert.equal(full.length, HEADER_BYTES + MAX_DATAGRAM_PAYLOAD - 2); // a 253-byte name: two short of the 255 the format allows
  const r = parseFrame(full);
  assert.equal(r.kind === 'ok' && r.value.type === 'datagram' && r.value.data.length, 65_507);
  assert.throws(() => datagramFrame(1, { host: name, port: 1 }, Buffer.alloc(65_510)), RangeError);
  const h = Buffer.from(full.subarray(0, HEADER_BYTES));
  h.writeUInt32BE(MAX_DATAGRAM_PAYLOAD + 1, 5);
  assert.match(error(h), /too large \(65767 bytes, limit 65766\)/);
  // The DATA limit stays where it was.
  const d = dataHeader(1, 0);
  d.writeUInt32BE(MAX_FRAME_PAYLOAD + 1, 5);
  assert.match(error(d), /limit 65536/);
});

test('DATAGRAM: a bad or truncated address is refused with the reason, never thrown', () => {
  const frameOf = (payload: Buffer, stream = 1): Buffer => {
    const b = Buffer.alloc(HEADER_BYTES + payload.length);
    b[0] = 9;
    b.writeUInt32BE(stream, 1);
    b.writeUInt32BE(payload.length, 5);
    payload.copy(b, HEADER_BYTES);
    return b;
  };
  assert.match(error(frameOf(Buffer.alloc(0))), /DATAGRAM with a truncated address/);
  assert.match(error(frameOf(Buffer.from([1, 127, 0, 0, 1, 0]))), /truncated address/);
  assert.match(error(frameOf(Buffer.from([3, 10, 0x61]))), /truncated address/);
  assert.match(error(frameOf(Buffer.from([7, 0, 0, 0, 0, 0, 0]))), /DATAGRAM: address type 7 not supported/);
  assert.match(error(frameOf(Buffer.from([3, 0, 0, 53]))), /DATAGRAM: empty domain name/);
  assert.match(error(frameOf(Buffer.from([3, 3, 0x61, 0x20, 0x62, 0, 53]))), /DATAGRAM: invalid domain name/);
  assert.match(error(frameOf(Buffer.from([1, 127, 0, 0, 1, 0, 53]), 0)), /type 9 on stream 0/);
  assert.match(error(Buffer.from([10])), /unknown link frame type 10/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame, FrameScanner, MAX_FRAME } from './udp-in-tcp.js';

test('frames round-trip across every split point', () => {
  const frames = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(300, 7), Buffer.from('last')];
  const stream = Buffer.concat(frames.map(encodeFrame));
  for (let cut = 0; cut <= stream.length; cut++) {
    const s = new FrameScanner();
    const got = [...s.feed(stream.subarray(0, cut)), ...s.feed(stream.subarray(cut))];
    assert.deepEqual(got.map((b) => b.toString('hex')), frames.map((b) => b.toString('hex')), `cut at ${cut}`);
    assert.equal(s.buffered, 0);
  }
});

test('byte by byte, and the partial frame is all that is kept', () => {
  const s = new FrameScanner();
  const stream = encodeFrame(Buffer.alloc(1000, 1));
  let out: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) {
    out = out.concat(s.feed(stream.subarray(i, i + 1)));
    assert.ok(s.buffered <= 2 + 1000);
  }
  assert.equal(out.length, 1);
  assert.equal(out[0]!.length, 1000);
});

test('the largest frame fits; a larger one is refused when encoding', () => {
  assert.equal(new FrameScanner().feed(encodeFrame(Buffer.alloc(MAX_FRAME)))[0]!.length, MAX_FRAME);
  assert.throws(() => encodeFrame(Buffer.alloc(MAX_FRAME + 1)), RangeError);
});

test('seeded random streams never throw and never buffer more than one frame', () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let round = 0; round < 2000; round++) {
    const s = new FrameScanner();
    const chunk = Buffer.from(Array.from({ length: rand(200) }, () => rand(256)));
    s.feed(chunk);
    assert.ok(s.buffered <= MAX_FRAME + 2);
  }
});

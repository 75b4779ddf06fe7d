import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeSocks4Reply, parseSocks4Request, splitSocks4Userid } from './codec.js';

const v4 = Buffer.concat([Buffer.from([4, 1, 0, 80, 93, 184, 216, 34]), Buffer.from('bob:pw\0')]);
const v4a = Buffer.concat([Buffer.from([4, 1, 1, 187, 0, 0, 0, 9]), Buffer.from('bob\0example.com\0')]);

test('SOCKS4 and SOCKS4a parse at every split and leave pipelined bytes', () => {
  for (const [frame, host, kind] of [[v4, '93.184.216.34', 'ipv4'], [v4a, 'example.com', 'domain']] as const) {
    for (let n = 0; n < frame.length; n++) assert.equal(parseSocks4Request(frame.subarray(0, n)).kind, 'more', `prefix ${n}`);
    const r = parseSocks4Request(Buffer.concat([frame, Buffer.from('GET /')]));
    assert.ok(r.kind === 'ok');
    assert.equal(r.value.target.host, host);
    assert.equal(r.value.target.kind, kind);
    assert.equal(r.consumed, frame.length);
  }
});

test('SOCKS4 limits: userid and host name longer than 255 bytes are refused', () => {
  const longUid = Buffer.concat([Buffer.from([4, 1, 0, 80, 1, 2, 3, 4]), Buffer.alloc(300, 0x61)]);
  assert.equal(parseSocks4Request(longUid).kind, 'error');
  const longHost = Buffer.concat([Buffer.from([4, 1, 0, 80, 0, 0, 0, 1]), Buffer.from('u\0'), Buffer.alloc(300, 0x61)]);
  assert.equal(parseSocks4Request(longHost).kind, 'error');
  const badHost = Buffer.concat([Buffer.from([4, 1, 0, 80, 0, 0, 0, 1]), Buffer.from('u\0bad host\0')]);
  assert.equal(parseSocks4Request(badHost).kind, 'error');
});

test('userid password convention and reply encoding', () => {
  assert.deepEqual(splitSocks4Userid('user-bob-cc-us:secret:x'), { username: 'user-bob-cc-us', password: 'secret:x' });
  assert.deepEqual(splitSocks4Userid('bob'), { username: 'bob', password: undefined });
  assert.deepEqual([...encodeSocks4Reply(0x5a, { host: '10.0.0.1', port: 258 })], [0, 0x5a, 1, 2, 10, 0, 0, 1]);
  assert.deepEqual([...encodeSocks4Reply(0x5b)], [0, 0x5b, 0, 0, 0, 0, 0, 0]);
});

test('SOCKS4a naming an IPv6 literal is refused as such: SOCKS4 has no IPv6 (curl sends [::1] that way)', () => {
  const v6 = Buffer.concat([Buffer.from([4, 1, 0, 80, 0, 0, 0, 1]), Buffer.from('u\0::1\0')]);
  const r = parseSocks4Request(v6);
  assert.ok(r.kind === 'error');
  assert.equal(r.code, 'FAMILY_UNSUPPORTED');
  assert.match(r.message, /SOCKS4 has no IPv6/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CidrTable } from '../shared/cidr.js';
import {
  cidrContains,
  mergeCidrs,
  parentPrefixes,
  parseAddr,
  parseCidr,
  parseV4,
  prefixKey,
  prefixKeyV4,
  prefixOptions,
} from './prefix.js';

test('prefix keys: /24 and /48 by default, v4-mapped IPv6 counts as IPv4, zone ids ignored', () => {
  assert.equal(prefixKey('203.0.113.77'), '203.0.113.0/24');
  assert.equal(prefixKey('::ffff:203.0.113.77'), '203.0.113.0/24');
  assert.equal(prefixKey('::ffff:cb00:714d'), '203.0.113.0/24', 'hex form of a mapped address');
  assert.equal(prefixKey('2001:db8:abcd:12::1'), '2001:db8:abcd::/48');
  assert.equal(prefixKey('2001:0DB8:0000:0000::1'), '2001:db8::/48', 'canonical RFC 5952 text');
  assert.equal(prefixKey('fe80::1%eth0'), 'fe80::/48');
  assert.equal(prefixKey('255.255.255.255'), '255.255.255.0/24');
  assert.equal(prefixKey('0.0.0.1'), '0.0.0.0/24');
  for (const bad of ['', 'example.com', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', ' 1.2.3.4', '1.2.3.4 ', '::g']) assert.equal(prefixKey(bad), undefined, bad);
  assert.equal(prefixKeyV4(parseV4('10.9.8.7')), '10.9.8.0/24');
});

test('prefix lengths are configurable and checked', () => {
  const o = prefixOptions({ v4Bits: 22, v6Bits: 56, v4Parents: [16], v6Parents: [48, 32] });
  assert.equal(prefixKey('10.1.7.9', o), '10.1.4.0/22');
  assert.equal(prefixKey('2001:db8:1:2ff::1', o), '2001:db8:1:200::/56');
  assert.deepEqual(parentPrefixes('10.1.4.0/22', o), ['10.1.0.0/16']);
  assert.deepEqual(parentPrefixes('2001:db8:1:200::/56', o), ['2001:db8:1::/48', '2001:db8::/32']);
  assert.throws(() => prefixOptions({ v4Bits: 33 }));
  assert.throws(() => prefixOptions({ v4Parents: [16, 20] }), /decreasing/);
  assert.throws(() => prefixOptions({ v4Bits: 16, v4Parents: [16] }));
});

test('parent prefixes for back-off, nearest first', () => {
  assert.deepEqual(parentPrefixes('10.1.130.0/24'), ['10.1.128.0/20', '10.1.0.0/16']);
  assert.deepEqual(parentPrefixes('2001:db8:ab::/48'), ['2001:db8::/40', '2001:db8::/32']);
  assert.deepEqual(parentPrefixes('10.1.0.0/16'), [], 'no parent shorter than /16 by default');
  assert.deepEqual(parentPrefixes('10.1.0.0/18'), ['10.1.0.0/16']);
});

test('CIDR parsing masks the network and folds mapped ranges', () => {
  assert.deepEqual(parseCidr('10.1.2.3/16'), { family: 4, net: parseV4('10.1.0.0'), bits: 16 });
  assert.deepEqual(parseCidr('::ffff:10.0.0.0/104'), { family: 4, net: parseV4('10.0.0.0'), bits: 8 });
  assert.deepEqual(parseCidr('1.2.3.4'), { family: 4, net: parseV4('1.2.3.4'), bits: 32 });
  assert.equal(parseCidr('1.2.3.4/33'), undefined);
  assert.equal(parseCidr('1.2.3.4/x'), undefined);
  assert.equal(parseCidr('::/129'), undefined);
  assert.ok(cidrContains(parseCidr('10.0.0.0/8')!, parseCidr('10.200.0.0/16')!));
  assert.ok(!cidrContains(parseCidr('10.0.0.0/16')!, parseCidr('10.0.0.0/8')!));
  assert.ok(!cidrContains(parseCidr('::/0')!, parseCidr('10.0.0.0/8')!));
  assert.deepEqual(parseAddr('::ffff:1.2.3.4'), { family: 4, v: parseV4('1.2.3.4') });
});

test('merging gives the minimal exact cover', () => {
  // four adjacent aligned /24 → one /22
  assert.deepEqual(mergeCidrs(['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/24']), ['10.0.0.0/22']);
  // adjacent but not aligned: 10.0.1/24 + 10.0.2/24 cannot be one CIDR
  assert.deepEqual(mergeCidrs(['10.0.2.0/24', '10.0.1.0/24']), ['10.0.1.0/24', '10.0.2.0/24']);
  // three of four → /23 + /24
  assert.deepEqual(mergeCidrs(['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24']), ['10.0.0.0/23', '10.0.2.0/24']);
  // duplicates and contained entries vanish
  assert.deepEqual(mergeCidrs(['10.0.0.0/16', '10.0.5.0/24', '10.0.5.0/24']), ['10.0.0.0/16']);
  // never broader than the union: a gap stays a gap
  assert.deepEqual(mergeCidrs(['10.0.0.0/24', '10.0.3.0/24']), ['10.0.0.0/24', '10.0.3.0/24']);
  // minBits caps how far merging goes
  assert.deepEqual(mergeCidrs(['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/24'], 23), ['10.0.0.0/23', '10.0.2.0/23']);
  // the top of the space and the whole space
  assert.deepEqual(mergeCidrs(['255.255.255.0/24', '255.255.254.0/24']), ['255.255.254.0/23']);
  assert.deepEqual(mergeCidrs(['0.0.0.0/1', '128.0.0.0/1']), ['0.0.0.0/0']);
  assert.deepEqual(mergeCidrs(['0.0.0.0/1', '128.0.0.0/1'], 1), ['0.0.0.0/1', '128.0.0.0/1']);
  // IPv6, and mixed families (IPv4 first)
  assert.deepEqual(mergeCidrs(['2001:db8:1::/48', '2001:db8::/48', '10.0.0.0/24']), ['10.0.0.0/24', '2001:db8::/47']);
  assert.deepEqual(mergeCidrs(['2001:db8:1::/48', '2001:db8:3::/48']), ['2001:db8:1::/48', '2001:db8:3::/48']);
  assert.deepEqual(mergeCidrs(['::/1', '8000::/1']), ['::/0']);
  assert.deepEqual(mergeCidrs([]), []);
  assert.throws(() => mergeCidrs(['nope']));
});

test('merging a random set covers exactly the same addresses', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const picked = new Set<number>();
  for (let i = 0; i < 400; i++) picked.add(Math.floor(rnd() * 1024)); // /24s inside 10.0.0.0/14
  const list = [...picked].map((n) => `10.${n >> 8}.${n & 255}.0/24`);
  const merged = mergeCidrs(list);
  assert.ok(merged.length < list.length);
  const m = new CidrTable<true>();
  for (const c of merged) m.add(c, true);
  for (let n = 0; n < 1024; n++) assert.equal(m.lookupText(`10.${n >> 8}.${n & 255}.9`) === true, picked.has(n), `block ${n}`);
  // minimality: no two results are mergeable siblings
  const again = mergeCidrs(merged);
  assert.deepEqual(again, merged);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CidrTable, formatCidr, parseAddr, parseCidr, parseV4 } from './cidr.js';
import { CidrSet, isCidrOrIp, parseIp } from './net-addr.js';

test('longest-prefix match: the most specific entry wins, whatever the order of adding', () => {
  const entries: Array<[string, string]> = [
    ['10.0.0.0/8', 'a'],
    ['10.1.0.0/16', 'b'],
    ['10.1.2.0/24', 'c'],
    ['10.1.2.3/32', 'host'],
    ['2001:db8::/32', 'v6'],
    ['2001:db8:1::/48', 'v6b'],
    ['2001:db8:1::1/128', 'v6host'],
  ];
  for (const order of [entries, [...entries].reverse()]) {
    const m = new CidrTable<string>();
    for (const [c, v] of order) m.add(c, v);
    assert.equal(m.size, 7);
    assert.equal(m.lookupText('10.1.2.3'), 'host', '/32');
    assert.equal(m.lookupText('10.1.2.4'), 'c');
    assert.equal(m.lookupText('10.1.3.3'), 'b');
    assert.equal(m.lookupText('10.2.3.3'), 'a');
    assert.equal(m.lookupText('11.0.0.1'), undefined);
    assert.equal(m.lookupText('2001:db8:1::1'), 'v6host', '/128');
    assert.equal(m.lookupText('2001:db8:1:5::1'), 'v6b');
    assert.equal(m.lookupText('2001:db8:2::1'), 'v6');
    assert.equal(m.lookupText('2001:db9::1'), undefined);
    assert.equal(m.lookupV4(parseV4('10.1.2.9')), 'c');
    assert.equal(m.lookupCidr(parseCidr('10.1.2.0/23')!), 'b', 'a CIDR matches only entries containing all of it');
    assert.equal(m.lookupCidr(parseCidr('2001:db8:1::/47')!), 'v6');
  }
});

test('IPv4-mapped IPv6 is IPv4: addresses, CIDRs, hex form; IPv6 entries never match IPv4 and back', () => {
  const m = new CidrTable<string>().add('10.1.0.0/16', 'v4').add('::ffff:192.0.2.0/120', 'mapped').add('::/0', 'all6');
  assert.equal(m.lookupText('::ffff:10.1.2.3'), 'v4');
  assert.equal(m.lookupText('::ffff:a01:203'), 'v4', 'hex form of ::ffff:10.1.2.3');
  assert.equal(m.lookupText('192.0.2.77'), 'mapped', 'a mapped CIDR is an IPv4 /24');
  assert.equal(m.lookupText('::ffff:192.0.2.77'), 'mapped');
  assert.equal(m.lookupText('10.2.0.1'), undefined, '::/0 holds no IPv4 address');
  assert.equal(m.lookupText('2001:db8::1'), 'all6');
  assert.equal(m.lookupText('fe80::1%eth0'), 'all6', 'zone id ignored');
  assert.deepEqual(parseCidr('::ffff:10.0.0.0/104'), { family: 4, net: parseV4('10.0.0.0'), bits: 8 });
  assert.equal(parseCidr('::ffff:10.0.0.0/95'), undefined, 'a mapped CIDR shorter than /96 reaches outside IPv4');
});

test('/0 matches every address of its family; the same CIDR twice keeps the first value', () => {
  const m = new CidrTable<number>().add('0.0.0.0/0', 1).add('0.0.0.0/0', 2);
  assert.equal(m.size, 1);
  assert.equal(m.lookupText('0.0.0.0'), 1);
  assert.equal(m.lookupText('255.255.255.255'), 1);
  assert.equal(m.lookupText('::1'), undefined);
  assert.equal(new CidrTable<number>().add('::/0', 6).lookupText('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), 6);
  assert.equal(new CidrTable<number>().add('200.1.1.1', 1).lookupText('200.1.1.1'), 1, 'a bare address is a /32');
  assert.equal(new CidrTable<number>().add('2001:db8::1', 1).lookupText('2001:db8::1'), 1, 'a bare IPv6 address is a /128');
  assert.equal(new CidrTable<number>().add('2001:db8::1', 1).lookupText('2001:db8::2'), undefined);
});

test('invalid input: add throws, lookups of non-addresses find nothing', () => {
  const m = new CidrTable<number>();
  for (const bad of ['', 'x', '10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/x', '10.0.0.0/-1', '256.0.0.0/8', '1.2.3.4/8/9', '::ffff:10.0.0.0/8']) {
    assert.throws(() => m.add(bad, 1), TypeError, bad);
    assert.equal(parseCidr(bad), undefined, bad);
  }
  m.add('0.0.0.0/0', 1).add('::/0', 2);
  for (const bad of ['', 'not an address', '1.2.3.4.5', '300.1.1.1', '1.2.3.4/8', 'example.com']) assert.equal(m.lookupText(bad), undefined, bad);
});

test('address parsing: one parser; other IPv4 spellings resolvers accept mean the same address as there', () => {
  assert.deepEqual(parseAddr('10.1.2.3'), { family: 4, v: 0x0a010203 });
  assert.deepEqual(parseAddr('::1'), { family: 6, v: 1n });
  assert.deepEqual(parseAddr('::ffff:10.1.2.3'), { family: 4, v: 0x0a010203 });
  // strict (what sockets report) by default; loose takes every spelling a resolver takes, as that address
  for (const [text, v] of [['010.0.0.1', 0x08000001], ['2130706433', 0x7f000001], ['0x7f.1', 0x7f000001], ['10.1', 0x0a000001]] as const) {
    assert.equal(parseAddr(text), undefined, text);
    assert.deepEqual(parseAddr(text, true), { family: 4, v }, text);
  }
  assert.equal(parseCidr('10.1/16'), undefined);
  assert.deepEqual(parseCidr('10.1/16', true), { family: 4, net: 0x0a000000, bits: 16 });
  for (const bad of ['1.2.3.4 ', ' 1.2.3.4', 'example.com', '::g']) {
    assert.equal(parseAddr(bad), undefined, bad);
    assert.equal(parseAddr(bad, true), undefined, bad);
  }
  assert.equal(formatCidr(parseCidr('10.1.2.3/16')!), '10.1.0.0/16', 'the network is masked');
  assert.equal(formatCidr(parseCidr('2001:db8:ffff::1/33')!), '2001:db8:8000::/33');
  // a deny list cannot be sidestepped by spelling an address differently
  const deny = new CidrSet(['127.0.0.0/8']);
  for (const spelling of ['127.0.0.1', '2130706433', '0x7f.1', '0177.0.0.1', '::ffff:127.0.0.1', '::ffff:7f00:1']) assert.ok(deny.hasText(spelling), spelling);
});

test('CidrSet: a set view of the table; has/longestPrefix take parsed addresses of either parser', () => {
  const s = new CidrSet(['10.0.0.0/8', '10.1.0.0/16', '2001:db8::/32', '::ffff:192.0.2.0/120', '198.51.100.7']);
  assert.equal(s.size, 5);
  assert.equal(s.longestPrefix(parseIp('10.1.2.3')!), 16);
  assert.equal(s.longestPrefix(parseAddr('10.1.2.3')!), 16);
  assert.equal(s.longestPrefix(parseIp('::ffff:10.9.2.3')!), 8);
  assert.equal(s.longestPrefix(parseIp('192.0.2.1')!), 24, 'a mapped entry counts as IPv4 with its IPv4 length');
  assert.equal(s.longestPrefix(parseIp('2001:db8::5')!), 32);
  assert.equal(s.longestPrefix(parseIp('198.51.100.7')!), 32);
  assert.equal(s.longestPrefix(parseIp('198.51.100.8')!), -1);
  assert.ok(s.has(parseIp('2001:db8::5')!));
  assert.ok(!s.has(parseIp('2001:db9::5')!));
  assert.ok(s.hasText('::ffff:10.200.0.1'));
  assert.ok(!new CidrSet([]).hasText('10.0.0.1'));
  assert.throws(() => new CidrSet(['10.0.0.0/8', 'nonsense']), TypeError);
  // what the configuration schema lets through is what CidrSet takes
  for (const t of ['10.0.0.0/8', '1.2.3.4', '::/0', '::ffff:10.0.0.0/104']) assert.ok(isCidrOrIp(t), t);
  for (const t of ['nonsense', '10.0.0.0/33', '::ffff:10.0.0.0/8']) assert.ok(!isCidrOrIp(t), t);
});

test('IPv4 lookups (flat ranges) agree with probing every length, on random nested tables, after each change', () => {
  let seed = 11;
  const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (let round = 0; round < 20; round++) {
    const m = new CidrTable<number>();
    // dense nesting inside 10.0.0.0/8 so that lengths overlap a lot, plus edges of the space
    const n = 1 + (rnd() % 200);
    for (let i = 0; i < n; i++) {
      const bits = rnd() % 33;
      const v = (0x0a000000 | (rnd() & 0x00ffffff & ~(rnd() & 0x0f0f0f0f))) >>> 0;
      m.add({ family: 4, net: (v & (bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0)) >>> 0, bits }, i);
      if (i % 50 === 0) assert.equal(m.lookupV4(v), m.lookupCidr({ family: 4, net: v, bits: 32 }), 'lookup after a change sees it');
    }
    if (round % 5 === 0) m.add('255.255.255.255/32', -1).add('0.0.0.0/32', -2);
    for (let k = 0; k < 2000; k++) {
      const v = k < 4 ? [0, 0xffffffff, 0x0a000000, 0x0affffff][k]! : ((rnd() & 1 ? 0x0a000000 : rnd() & 0xff000000) | (rnd() & 0x00ffffff)) >>> 0;
      assert.equal(m.lookupV4(v), m.lookupCidr({ family: 4, net: v, bits: 32 }), `round ${round}, address ${v}`);
    }
  }
});

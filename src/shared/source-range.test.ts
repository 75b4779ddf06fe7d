import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findClaimConflicts, sourceRangeProblem, SELF_SERVICE_PREFIX_DEFAULT } from './source-range.js';
import { IngressConfigSchema } from './schema/ingress-config.js';
import { CidrSet, parseIp } from './net-addr.js';

test('source ranges: the floor, special ranges and IPv4-mapped ranges', () => {
  for (const ok of ['203.0.113.7', '10.0.0.0/8', '2001:db8::/16', '2001:db8::1', '::ffff:198.51.100.0/120']) assert.equal(sourceRangeProblem(ok), undefined, ok);
  for (const [bad, why] of [
    ['0.0.0.0/0', /too broad/],
    ['::/0', /too broad/],
    ['10.0.0.0/7', /too broad/],
    ['2000::/3', /too broad/],
    ['::ffff:0.0.0.0/96', /too broad/], // IPv4 /0 in disguise
    ['::ffff:0:0/95', /IPv4-mapped/],
    ['0.0.0.0/8', /unspecified/],
    ['0.0.0.0', /unspecified/],
    ['::/128', /unspecified/],
    ['224.0.0.0/8', /multicast/],
    ['ff02::/16', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['255.255.0.0/16', /broadcast/],
    ['not-an-ip', /not an IP/],
  ] as const) assert.match(sourceRangeProblem(bad) ?? 'accepted', why, bad);
  assert.match(sourceRangeProblem('198.51.100.0/23', SELF_SERVICE_PREFIX_DEFAULT)!, /\/24 at the broadest/);
  assert.match(sourceRangeProblem('2001:db8::/47', SELF_SERVICE_PREFIX_DEFAULT)!, /\/48 at the broadest/);
  assert.equal(sourceRangeProblem('2001:db8:1::/48', SELF_SERVICE_PREFIX_DEFAULT), undefined);
});

test('claim conflicts: nested and equal ranges of different owners, never one owner with itself', () => {
  const c = findClaimConflicts([
    { owner: 'a', ranges: ['203.0.113.0/24', '2001:db8::/48', '198.51.100.1'] },
    { owner: 'b', ranges: ['203.0.113.128/25', '198.51.100.2', '::ffff:198.51.100.1'] },
    { owner: 'c', ranges: ['2001:db8::/32', '192.0.2.0/24', '192.0.2.0/25'] },
  ]);
  const pairs = c.map((x) => [x.owner, x.range, x.otherOwner, x.otherRange].join(' ')).sort();
  assert.deepEqual(pairs, [
    'a 2001:db8::/48 c 2001:db8::/32',
    'b 203.0.113.128/25 a 203.0.113.0/24',
    'b ::ffff:198.51.100.1 a 198.51.100.1',
  ]);
  assert.deepEqual(findClaimConflicts([{ owner: 'a', ranges: ['10.0.0.0/8'] }, { owner: 'b', ranges: ['11.0.0.0/8'] }]), []);
});

test('the ingress schema refuses an open source range and overlapping source-auth users', () => {
  const user = (login: string, sources: string[], extra = {}) => ({ login, sources, sourceAuth: true, ...extra });
  const open = IngressConfigSchema.safeParse({ users: [user('m', ['0.0.0.0/0', '::/0'])] });
  assert.equal(open.success, false);
  assert.match(open.error.issues[0]!.message, /too broad/);
  assert.deepEqual(open.error.issues[0]!.path, ['users', 0, 'sources', 0]);
  const overlap = IngressConfigSchema.safeParse({ users: [user('a', ['203.0.113.0/24']), user('b', ['203.0.113.9'])] });
  assert.equal(overlap.success, false);
  assert.match(overlap.error.issues[0]!.message, /203\.0\.113\.9 of 'b' overlaps 203\.0\.113\.0\/24 of 'a'/);
  // Password users may share a source (two customers behind one NAT): only no-credential use is ambiguous.
  const shared = IngressConfigSchema.safeParse({ users: [user('a', ['203.0.113.0/24']), { login: 'b', passwordHash: '$scrypt$x', sources: ['203.0.113.9'] }] });
  assert.equal(shared.success, true);
});

test('CidrSet.longestPrefix: the most specific match, -1 for none', () => {
  const s = new CidrSet(['10.0.0.0/8', '10.1.0.0/16', '2001:db8::/32']);
  assert.equal(s.longestPrefix(parseIp('10.1.2.3')!), 16);
  assert.equal(s.longestPrefix(parseIp('10.2.2.3')!), 8);
  assert.equal(s.longestPrefix(parseIp('2001:db8::5')!), 32);
  assert.equal(s.longestPrefix(parseIp('192.0.2.1')!), -1);
});

test('compileSnapshot refuses overlapping sourceAuth users assembled one by one (the control-plane-fed path)', async () => {
  const { compileSnapshot } = await import('../ingress/config/snapshot.js');
  const { UserSchema } = await import('./schema/ingress-config.js');
  const base = IngressConfigSchema.parse({});
  const users = [UserSchema.parse({ login: 'a', sources: ['203.0.113.0/24'], sourceAuth: true }), UserSchema.parse({ login: 'b', sources: ['203.0.113.9'], sourceAuth: true })];
  assert.throws(() => compileSnapshot({ ...base, users }, 1), /203\.0\.113\.9 of 'b' overlaps 203\.0\.113\.0\/24 of 'a'/);
  assert.doesNotThrow(() => compileSnapshot({ ...base, users: [users[0]!] }, 1));
});

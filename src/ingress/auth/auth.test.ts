import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, parseHash, verifyPassword } from './password-hash.js';
import { AuthThrottle } from './auth-throttle.js';
import { FairSemaphore } from '../../shared/fair-semaphore.js';
import { sourceKey } from '../../shared/source-key.js';
import type { ProxyError } from '../../shared/errors.js';

test('password hashes verify, never contain the password, and reject tampering', async () => {
  const h = await hashPassword('correct horse', { ln: 10, r: 8, p: 1 });
  assert.ok(!h.includes('correct'));
  assert.ok(parseHash(h));
  assert.equal(await verifyPassword('correct horse', h), true);
  assert.equal(await verifyPassword('correct horse!', h), false);
  assert.equal(await verifyPassword('correct horse', h.replace('ln=10', 'ln=11')), false);
  assert.equal(await verifyPassword('x', 'plain-text'), false);
  assert.notEqual(await hashPassword('same', { ln: 10, r: 8, p: 1 }), await hashPassword('same', { ln: 10, r: 8, p: 1 }));
});

const SETTINGS = { free: 2, sourceFree: 5, baseMs: 100, maxMs: 1000, windowMs: 60_000, maxTracked: 100 };

test('auth throttle: free failures per (source, login), then doubling backoffs up to a cap', () => {
  const t = new AuthThrottle(SETTINGS);
  const waits: number[] = [];
  for (let i = 0; i < 6; i++) {
    waits.push(t.blockedFor('1.2.3.4', 'alice', 0));
    t.fail('1.2.3.4', 'alice', 0);
  }
  assert.deepEqual(waits, [0, 0, 100, 200, 400, 800]);
  assert.equal(t.blockedFor('1.2.3.4', 'alice', 50), 950, 'capped, counted from the last failure');
  assert.equal(t.blockedFor('1.2.3.4', 'alice', 1000), 0, 'the backoff passes');
  assert.equal(t.blockedFor('1.2.3.4', 'alice', 120_000), 0, 'window expired');
  assert.equal(t.blockedFor('5.6.7.8', 'alice', 0), 0, 'another source is not held back');
});

test("auth throttle: another login's success does not clear a record; the per-source record holds every login", () => {
  const t = new AuthThrottle(SETTINGS);
  t.fail('1.2.3.4', 'alice', 0);
  t.fail('1.2.3.4', 'alice', 0);
  t.succeed('1.2.3.4', 'bob');
  assert.ok(t.blockedFor('1.2.3.4', 'alice', 0) > 0, "bob's success leaves alice's record");
  t.succeed('1.2.3.4', 'alice');
  assert.equal(t.blockedFor('1.2.3.4', 'alice', 0), 0, 'her own success clears it');
  // Spraying many logins from one source: the per-source allowance (5) holds them all.
  for (const l of ['a', 'b', 'c', 'd', 'e']) t.fail('9.9.9.9', l, 0);
  assert.ok(t.blockedFor('9.9.9.9', 'never-tried', 0) > 0);
  t.succeed('9.9.9.9', 'a');
  assert.ok(t.blockedFor('9.9.9.9', 'never-tried', 0) > 0, 'a success does not clear the per-source record');
});

test('auth throttle: events reach the other workers and apply there', () => {
  const a = new AuthThrottle(SETTINGS);
  const b = new AuthThrottle(SETTINGS);
  a.onEvent = (e) => b.apply(e, 0);
  a.fail('1.2.3.4', 'alice', 0);
  a.fail('1.2.3.4', 'alice', 0);
  assert.ok(b.blockedFor('1.2.3.4', 'alice', 0) > 0);
  a.succeed('1.2.3.4', 'alice');
  assert.equal(b.blockedFor('1.2.3.4', 'alice', 0), 0);
});

test('auth throttle memory is bounded', () => {
  const t = new AuthThrottle({ ...SETTINGS, maxTracked: 10 });
  for (let i = 0; i < 1000; i++) t.fail(`10.0.${i >> 8}.${i & 255}`, 'x');
  assert.equal(t.tracked, 10);
});

test('fair semaphore: one key holds at most its share; a newcomer is served next, not after the flood', async () => {
  const sem = new FairSemaphore(2, 3, 100);
  const order: string[] = [];
  const gates: Array<() => void> = [];
  const job = (name: string) => () => new Promise<void>((resolve) => gates.push(() => (order.push(name), resolve())));
  const flood = Array.from({ length: 10 }, (_, i) => sem.run('attacker', job(`a${i}`)).then(() => 'ok', (e: ProxyError) => e.code));
  const bob = sem.run('bob', job('bob'));
  assert.equal(sem.running, 2);
  assert.equal(sem.pending, 2, "the attacker's third place and bob's");
  const results = flood.slice(3);
  assert.deepEqual(await Promise.all(results), Array(7).fill('RATE_LIMITED'));
  gates.shift()!(); // a0 ends: the key next in turn is the attacker (queued first), then bob
  await new Promise((r) => setImmediate(r));
  gates.shift()!(); // a1 ends: bob's turn
  await new Promise((r) => setImmediate(r));
  while (gates.length) {
    gates.shift()!();
    await new Promise((r) => setImmediate(r));
  }
  await bob;
  assert.deepEqual(order.slice(0, 2), ['a0', 'a1']);
  assert.ok(order.indexOf('bob') <= 3, order.join(','));
  assert.equal(sem.running, 0);
  assert.equal(sem.pending, 0);
});

test('source keys: IPv4 as is, IPv6 by /64', () => {
  assert.equal(sourceKey('203.0.113.7'), '203.0.113.7');
  assert.equal(sourceKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('2001:db8:1:2::99'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(sourceKey('::1'), '0:0:0:0::/64');
});

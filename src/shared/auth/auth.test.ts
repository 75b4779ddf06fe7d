import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, parseHash, verifyPassword } from './password-hash.js';
import { AuthThrottle } from './auth-throttle.js';
import { FairSemaphore } from '../fair-semaphore.js';
import { sourceKey } from '../source-key.js';
import type { ProxyError } from '../errors.js';

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
  let sent = 0;
  a.onEvent = () => sent++;
  a.succeed('1.2.3.4', 'alice');
  a.succeed('5.6.7.8', 'bob');
  assert.equal(sent, 0, 'a success with no record to clear sends nothing (the hot path)');
});

test('auth throttle memory is bounded', () => {
  const t = new AuthThrottle({ ...SETTINGS, maxTracked: 10 });
  for (let i = 0; i < 1000; i++) t.fail(`10.0.${i >> 8}.${i & 255}`, 'x');
  assert.equal(t.tracked, 10);
});

test('fair semaphore: one key runs at most half the slots and holds at most its share of places; a newcomer starts at once', async () => {
  const sem = new FairSemaphore(4, 4, 100);
  const order: string[] = [];
  const gates = new Map<string, () => void>();
  const job = (name: string) => () => new Promise<void>((resolve) => {
    order.push(name);
    gates.set(name, resolve);
  });
  const flood = Array.from({ length: 10 }, (_, i) => sem.run('attacker', job(`a${i}`)).then(() => 'ok', (e: ProxyError) => e.code));
  assert.deepEqual(await Promise.all(flood.slice(4)), Array(6).fill('RATE_LIMITED'), 'past its 4 places, refused at once');
  assert.equal(sem.running, 2, 'two of four slots');
  assert.equal(sem.pending, 2);
  const bob = sem.run('bob', job('bob'));
  assert.equal(sem.running, 3, 'bob starts at once');
  assert.deepEqual(order, ['a0', 'a1', 'bob']);
  gates.get('a0')!();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['a0', 'a1', 'bob', 'a2']);
  for (const name of ['a1', 'bob', 'a2']) gates.get(name)!();
  await new Promise((r) => setImmediate(r));
  gates.get('a3')!();
  await Promise.all([bob, ...flood.slice(0, 4)]);
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

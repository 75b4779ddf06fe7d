import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, parseHash, verifyPassword } from './password-hash.js';
import { AuthThrottle } from './auth-throttle.js';

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

test('auth throttle: free failures, then doubling delays up to a cap, cleared by success', () => {
  const t = new AuthThrottle(2, 100, 60_000, 100, 1000);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(() => t.fail('1.2.3.4', 0)), [0, 0, 100, 200, 400, 800, 1000]);
  assert.equal(t.fail('5.6.7.8', 0), 0, 'per source');
  t.succeed('1.2.3.4');
  assert.equal(t.fail('1.2.3.4', 0), 0);
  assert.equal(t.fail('1.2.3.4', 120_000), 0, 'window expired');
});

test('auth throttle memory is bounded', () => {
  const t = new AuthThrottle(1, 10);
  for (let i = 0; i < 1000; i++) t.fail(`10.0.${i >> 8}.${i & 255}`);
  assert.equal(t.tracked, 10);
});

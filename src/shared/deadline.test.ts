import { test } from 'node:test';
import assert from 'node:assert/strict';
import { within } from './deadline.js';

test('within: a result in time is the result; a late one is TIMEOUT, and the late result goes to `late`', async () => {
  assert.equal(await within(Promise.resolve(7), 1000, 'slow'), 7);
  let resolveLate!: (v: string) => void;
  const lateOnes: string[] = [];
  const p = within(new Promise<string>((r) => (resolveLate = r)), 10, 'too slow', (v) => lateOnes.push(v));
  await assert.rejects(p, (err: Error & { code?: string }) => err.code === 'TIMEOUT' && err.message === 'too slow');
  resolveLate('stream');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(lateOnes, ['stream']);
  // In time: `late` is never called.
  const kept: number[] = [];
  assert.equal(await within(Promise.resolve(1), 1000, 'slow', (v) => kept.push(v)), 1);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(kept, []);
});

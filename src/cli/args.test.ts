import { test } from 'node:test';
import assert from 'node:assert/strict';
import { millisFlag, UsageError } from './args.js';

test('millisFlag: decimal digits only, from min to the timers\' cap (less headroom, or a max of its own)', () => {
  assert.equal(millisFlag('--x-ms', '0', 0), 0);
  assert.equal(millisFlag('--x-ms', '2147483647', 0), 2147483647);
  assert.equal(millisFlag('--x-ms', '0250', 1), 250);
  // Number() took each of these: hex, binary, exponent, a sign, blanks, minus zero.
  for (const bad of ['0x10', '0b101', '0o7', '1e3', '+5', ' 7 ', '7\n', '-0', '', '1.0', '1_000', '2147483648']) {
    assert.throws(() => millisFlag('--x-ms', bad, 0), (err: unknown) => err instanceof UsageError && err.message === '--x-ms must be 0-2147483647 (milliseconds)', JSON.stringify(bad));
  }
  assert.throws(() => millisFlag('--x-ms', '2147481648', 1, { headroomMs: 2000 }), /^UsageError: --x-ms must be 1-2147481647 \(milliseconds\)$/);
  assert.equal(millisFlag('--x-ms', '3600000', 100, { max: 3_600_000 }), 3_600_000);
  assert.throws(() => millisFlag('--x-ms', '3600001', 100, { max: 3_600_000 }), /^UsageError: --x-ms must be 100-3600000 \(milliseconds\)$/);
  assert.throws(() => millisFlag('--x-ms', '99', 100, { max: 3_600_000 }), /must be 100-3600000/);
});

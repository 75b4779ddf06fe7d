import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testHashCost } from './test-hash-cost.js';

test('HOPGATE_TEST_SCRYPT_LN: unset or empty is production cost; 10-14 lowers it; anything else is refused', () => {
  assert.equal(testHashCost(undefined), undefined);
  assert.equal(testHashCost(''), undefined);
  assert.deepEqual(testHashCost('10'), { ln: 10, r: 8, p: 1 });
  assert.deepEqual(testHashCost('14'), { ln: 14, r: 8, p: 1 });
  for (const bad of ['9', '15', '16', '1e1', ' 10', '10.0', 'low', '-12']) assert.throws(() => testHashCost(bad), /HOPGATE_TEST_SCRYPT_LN must be 10 to 14/, bad);
});

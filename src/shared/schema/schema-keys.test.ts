import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { editDistance, keysAt, nearestKey } from './schema-keys.js';
import { IngressConfigSchema } from './ingress-config.js';

test('edit distance, bounded', () => {
  assert.equal(editDistance('limits', 'limits'), 0);
  assert.equal(editDistance('limts', 'limits'), 1);
  assert.equal(editDistance('maxConections', 'maxConnections'), 1);
  assert.equal(editDistance('psrots', 'ports'), 2);
  assert.equal(editDistance('abc', 'xyzw'), 3, 'past the bound: bound + 1');
  assert.equal(editDistance('a'.repeat(5000), 'b'.repeat(5000)), 3, 'long names give up at once');
});

test('the nearest key within 2 edits; a case-only difference first; none beyond', () => {
  assert.equal(nearestKey('Listen', ['limits', 'listen']), 'listen');
  assert.equal(nearestKey('lmits', ['limits', 'listen']), 'limits');
  assert.equal(nearestKey('frobnicate', ['limits', 'listen']), undefined);
});

test('keys at a place: through defaults, arrays, tuples and a discriminated union', () => {
  assert.ok(keysAt(IngressConfigSchema, [], {}).includes('limits'));
  assert.ok(keysAt(IngressConfigSchema, ['limits'], {}).includes('maxConnections'));
  assert.ok(keysAt(IngressConfigSchema, ['users', 0, 'bandwidth'], {}).includes('upBytesPerSec'));
  const reverse = keysAt(IngressConfigSchema, ['exits', 0], { exits: [{ kind: 'reverse' }] });
  assert.ok(reverse.includes('tokenHash'));
  assert.ok(!reverse.includes('host'), 'a key that exists only to be refused is no suggestion');
  const forward = keysAt(IngressConfigSchema, ['exits', 0], { exits: [{ host: 'h' }] });
  assert.ok(forward.includes('via') && forward.includes('host') && !forward.includes('tokenHash'));
  const tuple = z.tuple([z.object({ a: z.number() }), z.object({ b: z.number() })]);
  assert.deepEqual(keysAt(tuple, [1], [{}, {}]), ['b']);
  assert.deepEqual(keysAt(z.object({ n: z.number() }), ['n'], {}), [], 'not an object: no keys');
});

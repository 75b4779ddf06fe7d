/** test/helpers/teardown.ts: a step that never finishes fails the teardown by name, and the steps after it still run. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { teardown } from '../helpers/teardown.js';

test('a hanging step is named after its bound; a failing one too; every step runs', async () => {
  const ran: string[] = [];
  const t0 = Date.now();
  await assert.rejects(
    teardown(
      [
        ['close the pool', () => new Promise(() => undefined)], // never settles
        ['stop the replica', () => void ran.push('replica')],
        ['drop the schema', () => Promise.reject(new Error('lock timeout'))],
        ['remove the dirs', () => void ran.push('dirs')],
      ],
      300,
    ),
    /^Error: teardown: close the pool did not finish within 300 ms$/,
  );
  assert.deepEqual(ran, ['replica', 'dirs']);
  assert.ok(Date.now() - t0 < 10_000);
  await assert.rejects(teardown([['drop the schema', () => Promise.reject(new Error('lock timeout'))]]), /teardown: drop the schema failed: Error: lock timeout/);
  await teardown([['fine', () => undefined], ['fine too', async () => undefined]]);
});

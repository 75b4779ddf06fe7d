/**
 * A process carrying a link keeps V8's young generation at its initial size (src/shared/runtime/
 * young-generation.ts): grown to its maximum it kept V8 collecting the whole heap every ~80 ms on a
 * link download (docs/BENCHMARKS.md, "Link bulk: garbage"). Its own file: the setting is per process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapSpaceStatistics } from 'node:v8';
import { linkPair } from '../helpers/link-pair.js';

const newSpaceMiB = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size / 1024 / 1024;

test('once a link session exists, allocation that grows the young generation by default leaves it at its initial size', async () => {
  const pair = await linkPair();
  try {
    // Objects that live a little while, as in-flight chunks do: without the setting this grows new space to 32 MiB.
    const keep: object[] = [];
    for (let i = 0; i < 3_000_000; i++) {
      keep.push({ a: i, b: [i] });
      if (keep.length > 200_000) keep.splice(0, 100_000);
    }
    assert.ok(newSpaceMiB() <= 4, `new space ${newSpaceMiB().toFixed(1)} MiB`);
  } finally {
    await pair.close();
  }
});

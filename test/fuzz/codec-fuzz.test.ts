/**
 * Codec fuzzing in every test run: the saved regression cases, then a short
 * seeded fuzz of every codec in src/protocol/ (FUZZ_SECONDS, default 6 s for
 * all of them). The seed is printed; FUZZ_SEED=… replays a run exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seedFromEnv } from './rng.js';
import { loadCorpus } from './corpus.js';
import { violationOf } from './engine.js';
import { runCodecFuzz } from './codec-run.js';
import { ALL_TARGETS, targetByName } from './targets/index.js';
import { Rng } from './rng.js';
import { checkParse, SLOW_MS, timed } from './properties.js';
import { fail, ok, type Parse } from '../../src/protocol/parse.js';

const corpus = loadCorpus();

test('the regression corpus is not empty', () => {
  assert.ok(corpus.length > 0, 'test/fuzz/corpus/*.json not found: tests run from dist/, cases stay in the source tree');
});

for (const c of corpus) {
  test(`corpus ${c.file}`, c.todo ? { todo: c.todo } : {}, () => {
    const v = violationOf(targetByName(c.target), Buffer.from(c.inputHex, 'hex'));
    assert.equal(v, undefined, `${c.note}\nnow: ${v?.message}`);
  });
}

test('every generator produces inputs its codec accepts without a violation', () => {
  const rng = new Rng(7);
  for (const t of ALL_TARGETS) {
    for (let i = 0; i < 200; i++) {
      const input = t.generate(rng);
      const v = violationOf(t, input);
      assert.equal(v, undefined, `${t.name}: ${v?.message} on ${input.toString('hex')}`);
    }
  }
});

test('the property checks catch broken codecs (the fuzzer can fail)', () => {
  const input = Buffer.from('abcdefghij');
  const overclaims = { name: 'overclaims', incremental: false, parse: (b: Buffer) => ok(null, b.length + 1) };
  assert.throws(() => checkParse(overclaims, input), /consumed-within-input/);
  const throws = { name: 'throws', incremental: false, parse: (): Parse<null> => { throw new RangeError('index out of range'); } };
  assert.throws(() => checkParse(throws, input), /no-throw/);
  // Refuses a prefix of what it accepts whole: bytes arriving in two reads would be refused.
  const impatient = { name: 'impatient', incremental: true, parse: (b: Buffer): Parse<null> => (b.length < 10 ? fail('BAD_REQUEST', 'short') : ok(null, 10)) };
  assert.throws(() => checkParse(impatient, input), /incremental/);
  const lossy = { name: 'lossy', incremental: false, parse: (b: Buffer) => ok(b.toString('utf8'), b.length), encode: (v: string) => Buffer.from(`${v}!`) };
  assert.throws(() => checkParse(lossy, input), /round-trip/);
  const slow = { name: 'slow', incremental: false, parse: (b: Buffer): Parse<null> => { const end = performance.now() + SLOW_MS + 50; while (performance.now() < end); return ok(null, b.length); } };
  assert.throws(() => checkParse(slow, Buffer.from('x')), /fast/);
  // A stateful call (a scanner's feed) is never re-run to re-time it: that would feed its bytes twice.
  let calls = 0;
  timed('stateful', () => { calls++; const end = performance.now() + SLOW_MS + 50; while (performance.now() < end); }, false);
  assert.equal(calls, 1);
});

test('short seeded fuzz of every codec finds nothing', () => {
  const seed = seedFromEnv();
  const seconds = Number(process.env['FUZZ_SECONDS'] ?? 6);
  const lines: string[] = [];
  const r = runCodecFuzz({ seed, seconds, log: (l) => lines.push(l) });
  const total = r.stats.reduce((s, x) => s + x.cases, 0);
  console.log(`codec fuzz seed ${seed} (replay: FUZZ_SEED=${seed}), ${total} cases in ${seconds} s\n${lines.join('\n')}`);
  assert.ok(r.stats.every((s) => s.cases > 0), 'a target ran no case');
  assert.deepEqual(
    r.findings.map((f) => `${f.target} ${f.property}: ${f.message} [${f.input.toString('hex')}]`),
    [],
    `FUZZ_SEED=${seed} reproduces; save with: FUZZ_SEED=${seed} node dist/test/fuzz/run.js --codecs --seconds ${seconds}`,
  );
});

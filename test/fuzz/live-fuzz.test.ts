/**
 * Live fuzzing in every test run: the saved live regression cases, each on a
 * fresh ingress+exit process, then a short seeded run of malformed clients
 * and misbehaving targets (FUZZ_LIVE_SECONDS, default 6). After every batch
 * the host must be alive, an innocent client's long-lived connection must
 * echo every byte and a new client must get through; at the end sessions,
 * file descriptors and heap must be back near where they started.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seedFromEnv } from './rng.js';
import { replayLive, runLiveFuzz } from './live/run-live.js';
import { loadLiveCorpus } from './live/live-corpus.js';

const corpus = loadLiveCorpus();

test('the live regression corpus is not empty', () => {
  assert.ok(corpus.length > 0, 'test/fuzz/corpus/live/*.json not found');
});

for (const c of corpus) {
  test(`live corpus ${c.file}`, c.todo ? { todo: c.todo } : {}, async () => {
    const r = await replayLive(c.scripts);
    assert.equal(r.problem, undefined, `${c.note}\nhost stderr: ${r.errorText.slice(-2000)}`);
  });
}

test('short seeded live fuzz: the ingress survives, the innocent client keeps every byte, resources stay bounded', async (t) => {
  const seed = seedFromEnv();
  const seconds = Number(process.env['FUZZ_LIVE_SECONDS'] ?? 6);
  const lines: string[] = [];
  const r = await runLiveFuzz({ seed, seconds, log: (l) => lines.push(l) });
  t.diagnostic(`live fuzz seed ${seed} (replay: FUZZ_SEED=${seed} node dist/test/fuzz/run.js --live --seconds ${seconds}): ${r.cases} cases, innocent ${r.innocentBytes} bytes`);
  for (const line of lines) t.diagnostic(line);
  assert.ok(r.cases > 0 && r.innocentBytes > 0, 'no case ran or the innocent client never echoed');
  assert.ok(r.start && r.end, 'no host figures');
  assert.deepEqual(r.findings.map((f) => `${f.problem}: ${f.message}`), [], `FUZZ_SEED=${seed} node dist/test/fuzz/run.js --live --seconds ${seconds} reproduces and saves it`);
});

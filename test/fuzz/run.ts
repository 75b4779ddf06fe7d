/**
 * Long fuzz runs from the command line (docs/FUZZING.md):
 *   node dist/test/fuzz/run.js --seconds 600            # codecs, then the live ingress
 *   FUZZ_SEED=1234 node dist/test/fuzz/run.js --codecs --seconds 60 --target http.chunked
 * Prints its seed first; findings are minimized and written to test/fuzz/corpus/ (--no-save to skip).
 */
import { parseArgs } from 'node:util';
import { seedFromEnv } from './rng.js';
import { runCodecFuzz } from './codec-run.js';
import { targetByName } from './targets/index.js';
import { saveFinding } from './corpus.js';
import { runLiveFuzz } from './live/run-live.js';
import { saveLiveCase } from './live/live-corpus.js';

// `node --test dist/test/` loads every file under it: this one runs only from the command line.
if (process.env['NODE_TEST_CONTEXT'] !== undefined) process.exit(0);

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    target: { type: 'string', multiple: true },
    codecs: { type: 'boolean', default: false },
    live: { type: 'boolean', default: false },
    'no-save': { type: 'boolean', default: false },
    seed: { type: 'string' },
  },
});

const seed = values.seed !== undefined ? seedFromEnv({ FUZZ_SEED: values.seed }) : seedFromEnv();
const seconds = Number(values.seconds);
if (!(seconds > 0)) throw new Error('--seconds must be a positive number');
const both = !values.codecs && !values.live;
const log = (line: string): void => console.log(line);
console.log(`fuzz seed ${seed} (reproduce: FUZZ_SEED=${seed} node dist/test/fuzz/run.js ${process.argv.slice(2).join(' ')})`);

let failed = false;
if (values.codecs || both) {
  const codecSeconds = both ? seconds / 2 : seconds;
  console.log(`codecs: ${codecSeconds} s`);
  const r = runCodecFuzz({ seed, seconds: codecSeconds, targets: values.target?.map(targetByName), log });
  const total = r.stats.reduce((s, x) => s + x.cases, 0);
  console.log(`codecs: ${total} cases, ${r.findings.length} findings`);
  for (const f of r.findings) {
    failed = true;
    if (!values['no-save']) console.log(`  saved ${saveFinding(f)}`);
  }
}
if (values.live || both) {
  const liveSeconds = both ? seconds / 2 : seconds;
  console.log(`live: ${liveSeconds} s`);
  const save = !values['no-save'];
  const r = await runLiveFuzz({ seed, seconds: liveSeconds, log, minimize: save });
  console.log(`live: ${r.cases} cases (${(r.cases / liveSeconds).toFixed(1)}/s), innocent client echoed ${r.innocentBytes} bytes, ${r.findings.length} findings`);
  for (const f of r.findings) {
    failed = true;
    if (save && f.script) console.log(`  saved ${saveLiveCase({ note: f.message.slice(0, 2000), problem: f.problem, scripts: f.batch ?? [f.script] })}`);
  }
}
process.exitCode = failed ? 1 : 0;

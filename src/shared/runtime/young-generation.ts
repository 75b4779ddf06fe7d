/**
 * V8's young generation, kept at its initial size in every hopgate process (issue 19): set by the
 * CLI (src/cli/main.ts) before any traffic, because V8 never shrinks a young generation once grown
 * (set at the first link session instead, an ingress that had grown it on other traffic kept it).
 *
 * V8 starts an old-generation collection (marking the whole heap) whenever the room left under
 * the old generation's limit is smaller than the young generation. A hopgate process has a small
 * heap (12–15 MB live) and, moving link traffic, allocates fast enough for V8 to grow the young
 * generation to its 16 MiB maximum per semi-space: from then on every full collection left less
 * room than that, and the next one started at once — one every ~80 ms, a quarter of the CPU of
 * either side of a link download in `perf` (docs/BENCHMARKS.md, "Link bulk: garbage"). It came
 * and went between runs (which process fell into it depended on when its young generation grew).
 * `--max-semi-space-size` would cap it but is read only at start-up; the growth factor is read
 * at each scavenge, so setting it to 1 here keeps the young generation at its initial 1 MiB.
 * Scavenges are then more frequent and each one cheaper (a few in-flight buffers survive).
 */
import { setFlagsFromString } from 'node:v8';

let applied = false;

/** Keep the young generation from growing, once per process (idempotent); call before any traffic. */
export function keepYoungGenerationSmall(): void {
  if (applied) return;
  applied = true;
  setFlagsFromString('--semi-space-growth-factor=1');
}

/**
 * Active exit health: every interval, walk each exit's whole route — through
 * every hop to the exit, then its greeting and our credentials (probeRoute).
 * A failure keeps the exit out of random choice (ExitHealth's back-off is
 * extended), a success puts it back at once. Passive failures from real
 * connections feed the same ExitHealth. Bounded: one probe per exit per
 * interval, each with a timeout; nothing runs when there are no exits.
 */
import { probeRoute } from '../upstream/dial-route.js';
import type { IngressRuntime } from '../runtime.js';
import { codeFromSystemError } from '../../shared/errors.js';

/** `onError`: a failure outside the probes themselves (each probe's failure is the exit's health). */
export function startExitProber(rt: IngressRuntime, intervalMs: number, onError: (err: unknown) => void, timeoutMs = Math.min(2000, intervalMs)): () => void {
  let running = false;
  const tick = async (): Promise<void> => {
    if (running) return; // a slow round never overlaps the next
    running = true;
    try {
      await Promise.all(
        rt.snapshot.exits.all.map(async (exit) => {
          // A reverse exit is never dialled: its health is whether it is connected (reverse/registry.ts).
          if (exit.config.kind === 'reverse') return;
          const started = performance.now();
          try {
            await probeRoute(exit.config, timeoutMs, rt.links);
            const ms = performance.now() - started;
            rt.exitHealth.succeeded(exit.id, ms);
            rt.exitHealth.probes.record(exit.id, true, ms, undefined);
          } catch (err) {
            rt.exitHealth.failed(exit.id);
            rt.exitHealth.probes.record(exit.id, false, undefined, codeFromSystemError(err));
          }
        }),
      );
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick().catch(onError), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Active exit health: every interval, open TCP to each exit's first hop.
 * A failure keeps the exit out of random choice (ExitHealth's back-off is
 * extended), a success puts it back at once. Passive failures from real
 * connections feed the same ExitHealth. Bounded: one probe per exit per
 * interval, each with a timeout; nothing runs when there are no exits.
 */
import { connectTcp } from '../upstream/dial-direct.js';
import type { IngressRuntime } from '../runtime.js';

export function startExitProber(rt: IngressRuntime, intervalMs: number, timeoutMs = Math.min(2000, intervalMs)): () => void {
  let running = false;
  const tick = async (): Promise<void> => {
    if (running) return; // a slow round never overlaps the next
    running = true;
    try {
      await Promise.all(
        rt.snapshot.exits.all.map(async (exit) => {
          const first = exit.config.via[0] ?? exit.config;
          try {
            const s = await connectTcp(first.host, first.port, timeoutMs);
            s.destroy();
            rt.exitHealth.succeeded(exit.id);
          } catch {
            rt.exitHealth.failed(exit.id);
          }
        }),
      );
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The one way a test waits for a condition: poll until it holds, or fail
 * saying what was awaited and what was last seen (a value or an error), so a
 * timeout explains itself instead of "timed out".
 */
import { inspect } from 'node:util';

export interface EventuallyOptions {
  /** Give up after this long (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Poll this often (default 25 ms). */
  readonly everyMs?: number;
}

/** A value counts as "holds" unless it is undefined, null or false (an API field not set yet is null; 0 and '' hold). */
type Falsy = undefined | null | false;

/**
 * Poll `fn` until it gives a value other than undefined, null or false, and return that value. A throw from
 * `fn` counts as "not yet" (a server still starting); the last one is in the timeout error.
 */
export async function eventually<T>(what: string, fn: () => Promise<T | Falsy> | T | Falsy, o: EventuallyOptions = {}): Promise<T> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const everyMs = o.everyMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let last: { value: unknown } | { error: unknown };
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v;
      last = { value: v };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) {
      const seen = 'error' in last ? `last error: ${last.error instanceof Error ? last.error.message : inspect(last.error)}` : `last value: ${inspect(last.value)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${seen})`, 'error' in last ? { cause: last.error } : undefined);
    }
    await sleep(everyMs);
  }
}

/**
 * The way a test shows something did NOT happen: `fn` must hold at every poll for the whole window, or this
 * fails at once saying what stopped holding. A window, not a wait for a condition: make it long enough for the
 * thing to have happened were it going to.
 */
export async function holdsFor(what: string, fn: () => boolean, windowMs: number, o: Pick<EventuallyOptions, 'everyMs'> = {}): Promise<void> {
  const everyMs = o.everyMs ?? 25;
  const deadline = Date.now() + windowMs;
  for (;;) {
    if (!fn()) throw new Error(`${what} stopped holding ${windowMs - Math.max(0, deadline - Date.now())} ms into its ${windowMs} ms window`);
    if (Date.now() >= deadline) return;
    await sleep(Math.min(everyMs, Math.max(1, deadline - Date.now())));
  }
}

/** A pause between polls or the pacing of a traffic loop: never a wait before an assertion (use `eventually`, or `holdsFor` for an absence). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

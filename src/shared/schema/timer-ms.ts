/**
 * Millisecond settings that feed a timer. Node's setTimeout and setInterval (and
 * socket.setTimeout) fire after 1 ms when given more than 2^31-1 ms, with only a
 * warning: a huge timeout would mean "at once". Every such setting is capped here.
 */
import { z } from 'zod';

/** The longest delay Node's timers take as it is (about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A number from elsewhere (a flag, the control plane's `hello`) that a timer can take as it is: an
 * integer from `min` to `max` (by default the timers' cap). NaN, strings and fractions are not.
 */
export function fitsTimer(ms: unknown, min: number, max = MAX_TIMER_MS): ms is number {
  return typeof ms === 'number' && Number.isInteger(ms) && ms >= min && ms <= max;
}

/**
 * An integer number of milliseconds from `min`, at most MAX_TIMER_MS less `headroomMs`
 * (for a setting the code adds that much to before it arms a timer).
 */
export function timerMs(min: number, headroomMs = 0): z.ZodNumber {
  const max = MAX_TIMER_MS - headroomMs;
  return z.number().int().min(min).max(max, `at most ${max} ms (a longer timer fires at once)`);
}

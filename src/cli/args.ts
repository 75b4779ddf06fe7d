/** Tiny argument helpers over node:util parseArgs. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { fitsTimer, MAX_TIMER_MS } from '../shared/schema/timer-ms.js';

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    // A mistyped flag is the user's error: one line, not a stack trace.
    if (!String((err as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')) throw err;
    const first = (err as Error).message.split('. ')[0]!.replace(/\.$/, '');
    const known = Object.keys(options).map((k) => `--${k}`);
    fail(`${first} (${known.length > 0 ? `known: ${known.join(' ')}` : 'it takes no options; an argument that starts with - goes after --'})`);
  }
}

/** `--egress-ports FIRST-LAST`: the source ports an exit binds on its egress address. */
export function portRange(flag: string, text: string | undefined): [number, number] | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)-(\d+)$/.exec(text);
  const lo = Number(m?.[1]);
  const hi = Number(m?.[2]);
  if (!m || lo < 1024 || hi > 65535 || lo >= hi) fail(`${flag} must be FIRST-LAST with 1024 ≤ FIRST < LAST ≤ 65535`);
  return [lo, hi];
}

/**
 * A flag of milliseconds that arms a timer: decimal digits (Number() would also take 0x10, 1e3, +5, ' 7 ')
 * for an integer from `min` up to `max`, by default the timers' cap (a longer timer fires at once) less
 * `headroomMs` when the code adds that much before arming it.
 */
export function millisFlag(flag: string, text: string, min: number, o: { headroomMs?: number; max?: number } = {}): number {
  const max = o.max ?? MAX_TIMER_MS - (o.headroomMs ?? 0);
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!fitsTimer(n, min, max)) fail(`${flag} must be ${min}-${max} (milliseconds)`);
  return n;
}

/**
 * A whole-number flag (a count, a port): decimal digits only, from `min` to `max`. Number() would take
 * 'abc' as NaN (which passed `< min` checks and reached the code: `--workers abc` forked no worker),
 * and '0x10', '1e3', '+5', ' 7 ' as numbers the user did not write.
 */
export function intFlag(flag: string, text: string, min: number, max: number, what = ''): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) fail(`${flag} must be ${min}-${max}${what ? ` (${what})` : ''}`);
  return n;
}

/** `--workers N`: the ingress's worker processes, as the configuration's `workers` allows. */
export function workersFlag(text: string | undefined): number | undefined {
  return text === undefined ? undefined : intFlag('--workers', text, 1, 64, 'ingress worker processes');
}

/** `--admin PORT` (on 127.0.0.1) or `--admin HOST:PORT`: where /metrics and /healthz listen (port 0: any free one). */
export function adminFlag(text: string): [string, number] {
  const m = /^(?:(.+):)?(\d+)$/.exec(text);
  if (!m) fail('--admin must be PORT or HOST:PORT (its /metrics and /healthz)');
  return [m[1]?.replace(/^\[|\]$/g, '') ?? '127.0.0.1', intFlag('--admin', m[2]!, 0, 65535, 'its port')];
}

/** `--link-keys-every-ms`, a forward exit's as a reverse exit's: how often the key dir (or the control plane's pins) is read. */
export function linkKeysEveryMs(text: string): number {
  return millisFlag('--link-keys-every-ms', text, 100, { max: 3_600_000 });
}

/** The user's mistake on the command line: main.ts prints `hopgate: MESSAGE` as one line and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * A command that cannot do what was asked, for a reason the user reads as one line (the control plane
 * answered 409, is unreachable, …): dispatch prints `hopgate: MESSAGE` and the exit status is 1.
 */
export class CommandFailed extends Error {
  override readonly name: string = 'CommandFailed';
}

/** Refuse the command line. A throw, not process.exit, so that the CLI can be run in-process (tests) and its output is flushed. */
export function fail(message: string): never {
  throw new UsageError(message);
}

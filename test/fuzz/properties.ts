/**
 * The properties every codec must keep, whatever bytes it is fed:
 *  - it never throws; it answers only with its documented result
 *    (`more`, `ok` with how much it used, or `error` with one of our codes);
 *  - it answers quickly;
 *  - it never claims more bytes than it was given, and does not modify them;
 *  - incremental consistency: the prefixes of the input (the bytes as they
 *    arrive in random splits) answer `more` until they answer what the whole
 *    input answers, and an error never turns into success with more bytes;
 *  - round trip: where an encoder exists, decode(encode(decode(x))) = decode(x).
 * A broken property throws a {@link PropertyViolation}.
 */
import { isDeepStrictEqual } from 'node:util';
import { REPLIES, type ErrorCode } from '../../src/shared/errors.js';
import type { Parse } from '../../src/protocol/parse.js';
import { Rng } from './rng.js';
import { randomCuts } from './mutate.js';

export class PropertyViolation extends Error {
  constructor(
    readonly property: string,
    message: string,
  ) {
    super(`${property}: ${message}`);
  }
}

/** A codec answer slower than this is a finding (re-timed before it counts: the machine is shared). */
export const SLOW_MS = Number(process.env['FUZZ_SLOW_MS'] ?? 250);

export function violation(property: string, message: string): never {
  throw new PropertyViolation(property, message);
}

/**
 * Run `fn`, turning a throw into a violation and a slow answer into another.
 * A pure `fn` is re-timed before slowness counts (the machine is shared); a
 * stateful one (a scanner's feed) cannot be run twice, so it gets 4x the limit once.
 */
export function timed<T>(what: string, fn: () => T, pure = true): T {
  const t0 = performance.now();
  let out: T;
  try {
    out = fn();
  } catch (err) {
    if (err instanceof PropertyViolation) throw err;
    violation('no-throw', `${what} threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
  }
  const ms = performance.now() - t0;
  if (!pure) {
    if (ms > 4 * SLOW_MS) violation('fast', `${what} took ${ms.toFixed(0)} ms (limit ${4 * SLOW_MS} ms for a stateful call)`);
    return out;
  }
  if (ms > SLOW_MS) {
    let best = ms;
    for (let i = 0; i < 2 && best > SLOW_MS; i++) {
      const t1 = performance.now();
      fn();
      best = Math.min(best, performance.now() - t1);
    }
    if (best > SLOW_MS) violation('fast', `${what} took ${best.toFixed(0)} ms (limit ${SLOW_MS} ms)`);
  }
  return out;
}

/** FNV-1a of the input: the splits a check tries depend only on the input, so a finding replays exactly. */
export function inputRng(input: Buffer): Rng {
  let h = 0x811c9dc5;
  for (let i = 0; i < input.length; i++) h = Math.imul(h ^ input[i]!, 0x01000193);
  return new Rng(h >>> 0);
}

const ERROR_CODES = new Set(Object.keys(REPLIES));

function describe(r: Parse<unknown>): string {
  if (r.kind === 'ok') return `ok(consumed ${r.consumed})`;
  if (r.kind === 'error') return `error(${r.code}: ${r.message})`;
  return 'more';
}

function checkShape(what: string, r: Parse<unknown>, length: number): void {
  if (r === null || typeof r !== 'object') violation('result-shape', `${what} returned ${String(r)}`);
  if (r.kind === 'more') return;
  if (r.kind === 'ok') {
    if (!Number.isInteger(r.consumed) || r.consumed < 1) violation('result-shape', `${what} consumed ${r.consumed}`);
    if (r.consumed > length) violation('consumed-within-input', `${what} claims ${r.consumed} bytes of ${length}`);
    return;
  }
  if (r.kind === 'error') {
    if (!ERROR_CODES.has(r.code)) violation('result-shape', `${what} error code ${String(r.code)} is not an ErrorCode`);
    if (typeof r.message !== 'string' || r.message.length === 0) violation('result-shape', `${what} error without a message`);
    return;
  }
  violation('result-shape', `${what} returned kind ${String((r as { kind: unknown }).kind)}`);
}

export interface ParseCheck<T> {
  readonly name: string;
  readonly parse: (b: Buffer) => Parse<T>;
  /** False for codecs fed whole datagrams (no `more`): prefixes are then not compared. */
  readonly incremental: boolean;
  /** The value encoded again, or undefined where the encoder does not cover it (documented). */
  readonly encode?: (v: T) => Buffer | undefined;
  /** The longest input that may still answer `more` (a documented bound), if any. */
  readonly maxPending?: number;
  /** What of a value the round trip must keep (default: all of it). */
  readonly canon?: (v: T) => unknown;
  /** Further codec-specific checks on an accepted value (e.g. lossless text). */
  readonly extra?: (v: T, input: Buffer) => void;
}

/** All properties of one Parse-style codec on one input. */
export function checkParse<T>(c: ParseCheck<T>, input: Buffer): Parse<T> {
  const copy = Buffer.from(input);
  const full = timed(c.name, () => c.parse(input));
  checkShape(c.name, full, input.length);
  if (!copy.equals(input)) violation('input-untouched', `${c.name} modified its input`);
  if (full.kind === 'more' && c.maxPending !== undefined && input.length > c.maxPending) {
    violation('bounded-pending', `${c.name} still wants more after ${input.length} bytes (bound ${c.maxPending})`);
  }
  if (c.incremental) checkPrefixes(c, input, full);
  if (full.kind === 'ok') {
    c.extra?.(full.value, input);
    if (c.encode) checkRoundTrip(c, full.value);
  }
  return full;
}

function checkPrefixes<T>(c: ParseCheck<T>, input: Buffer, full: Parse<T>): void {
  const rng = inputRng(input);
  const cuts = randomCuts(input.length, rng, 6);
  if (full.kind === 'ok') cuts.push(full.consumed, full.consumed - 1);
  for (const cut of cuts) {
    if (cut < 0 || cut > input.length) continue;
    const part = timed(`${c.name} on a prefix`, () => c.parse(input.subarray(0, cut)));
    checkShape(c.name, part, cut);
    const at = `prefix of ${cut}/${input.length} bytes gave ${describe(part)}, the whole input ${describe(full)}`;
    if (part.kind === 'error' && full.kind !== 'error') violation('incremental', at);
    if (part.kind === 'ok' && (full.kind !== 'ok' || part.consumed !== full.consumed || !isDeepStrictEqual(part.value, full.value))) violation('incremental', at);
    if (part.kind === 'more' && full.kind === 'ok' && cut >= full.consumed) violation('incremental', at);
  }
}

function checkRoundTrip<T>(c: ParseCheck<T>, value: T): void {
  let encoded: Buffer | undefined;
  try {
    encoded = c.encode!(value);
  } catch (err) {
    violation('round-trip', `encoder refused a decoded value: ${(err as Error).message}`);
  }
  if (encoded === undefined) return;
  const again = timed(`${c.name} on its own encoding`, () => c.parse(encoded));
  if (again.kind !== 'ok') violation('round-trip', `re-encoded value parses as ${describe(again)}`);
  if (again.consumed !== encoded.length) violation('round-trip', `re-encoded value: consumed ${again.consumed} of ${encoded.length}`);
  const canon = c.canon ?? ((v: T): unknown => v);
  const [a, b] = [canon(again.value), canon(value)];
  if (!isDeepStrictEqual(a, b)) violation('round-trip', `re-encoded value differs: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
}

/** An error result the codec documents (used by adapters of codecs with their own result types). */
export function errorParse(code: ErrorCode, message: string): Parse<never> {
  return { kind: 'error', code, message };
}

/** One codec under fuzz: how to build valid encodings of it, and how to check any input against it. */
import type { Rng } from './rng.js';

export interface FuzzTarget {
  readonly name: string;
  /** A valid encoding built from the format's structure (the seed for mutations). */
  generate(rng: Rng): Buffer;
  /** Every property on one input; throws PropertyViolation. Deterministic in `input`. */
  check(input: Buffer): void;
}

/** Shared generators of field values. */
export const gen = {
  label(rng: Rng): string {
    const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
    let s = '';
    const n = rng.range(1, 12);
    for (let i = 0; i < n; i++) s += chars[rng.int(chars.length)];
    return s;
  },
  domain(rng: Rng): string {
    const parts: string[] = [];
    const n = rng.range(1, 4);
    for (let i = 0; i < n; i++) parts.push(gen.label(rng));
    return parts.join('.');
  },
  ipv4(rng: Rng): string {
    return [rng.int(256), rng.int(256), rng.int(256), rng.int(256)].join('.');
  },
  ipv6Bytes(rng: Rng): Buffer {
    const b = rng.bytes(16);
    // Runs of zero groups exercise "::" compression.
    if (rng.chance(0.5)) {
      const start = rng.int(8) * 2;
      b.fill(0, start, Math.min(16, start + rng.range(1, 8) * 2));
    }
    if (rng.chance(0.1)) {
      b.fill(0, 0, 10);
      b[10] = 0xff;
      b[11] = 0xff;
    }
    return b;
  },
  text(rng: Rng, max: number): string {
    let s = '';
    const n = rng.int(max + 1);
    for (let i = 0; i < n; i++) s += String.fromCharCode(rng.range(0x21, 0x7e));
    return s;
  },
  port(rng: Rng): number {
    return rng.chance(0.1) ? rng.pick([0, 1, 65535]) : rng.int(65536);
  },
};

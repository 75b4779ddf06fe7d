/**
 * What a LegitimacyAnalysis has learned, as plain data: written by the
 * control plane (src/control/legitimacy.ts) to its state dir and read back on
 * start, so a restart keeps the rules in force instead of warming up again
 * for hours (docs/LEGITIMACY.md, "Restarts"). The prefix and row tables are
 * the analysis's own typed arrays, base64 (little-endian): a million rows
 * save and load in tens of milliseconds, not seconds. The envelope is checked
 * with a schema on read, the tables by importState (ids, parents, levels).
 */
import { z } from 'zod';

const Num = z.number().finite();
const Time = Num.nullable();
const B64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);

export const AnalysisStateSchema = z.object({
  v: z.literal(2),
  endian: z.literal('LE'),
  group: z.string(),
  savedAt: Num,
  /** Bits per level, leaf first: a state learned under other prefix settings is not reused. */
  levels4: z.array(z.number().int()),
  levels6: z.array(z.number().int()),
  mode: z.enum(['warmup', 'active', 'suspended']),
  reason: z.string(),
  since: Time,
  holdUntil: Time,
  started: Time,
  decayedTo: Time,
  roundsSinceSuspend: z.number().int().nonnegative(),
  rootCnt: z.array(Num),
  ingresses: z.array(
    z.object({
      id: z.string().min(1),
      down: z.boolean(),
      epoch: Num,
      maxSeq: Num,
      seen: z.array(Num).max(8192),
      baseline: Num,
      baselinePaused: Num,
      calm: z.number().int().nonnegative(),
      revision: Num,
      ackedRevision: Num,
    }),
  ),
  /** Prefixes in id order (parents before children): parent id (Int32), level (Uint8), family (Uint8), IPv4 network (Float64), decayed total (Float64). */
  prefixes: z.object({ count: z.number().int().nonnegative(), parent: B64, level: B64, fam: B64, net4: B64, tot: B64, net6: z.array(z.tuple([z.number().int().nonnegative(), z.string().regex(/^[0-9a-f]{1,32}$/)])) }),
  /** Rows: prefix id (Int32), ingress index (Int32), decayed count (Float64). */
  rows: z.object({ count: z.number().int().nonnegative(), pid: B64, ing: B64, cnt: B64 }),
});

export type AnalysisState = z.infer<typeof AnalysisStateSchema>;

/** base64 of the first `n` elements of a typed array. */
export function packArray(a: Int32Array | Uint8Array | Float64Array, n: number): string {
  return Buffer.from(a.buffer, a.byteOffset, n * a.BYTES_PER_ELEMENT).toString('base64');
}

/** A typed array of exactly `n` elements from base64, or undefined when the length does not match. */
export function unpackArray<T extends Int32Array<ArrayBuffer> | Uint8Array<ArrayBuffer> | Float64Array<ArrayBuffer>>(b64: string, n: number, make: (len: number) => T): T | undefined {
  const buf = Buffer.from(b64, 'base64');
  const out = make(Math.max(n, 1024));
  if (buf.length !== n * out.BYTES_PER_ELEMENT) return undefined;
  new Uint8Array(out.buffer, 0, buf.length).set(buf);
  return out;
}

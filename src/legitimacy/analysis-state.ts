/**
 * What a LegitimacyAnalysis has learned, as plain data: written by the
 * control plane (src/control/legitimacy.ts) to its state dir and read back on
 * start, so a restart keeps the rules in force instead of warming up again
 * for hours (docs/LEGITIMACY.md, "Restarts"). Checked with a schema on read.
 */
import { z } from 'zod';

const Num = z.number().finite();
const Time = Num.nullable();

export const AnalysisStateSchema = z.object({
  v: z.literal(1),
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
  /** Prefixes in id order (parents before children): [cidr, level, decayed total]. */
  prefixes: z.array(z.tuple([z.string(), z.number().int().nonnegative(), Num])),
  /** Rows: [prefix index in `prefixes`, ingress index in `ingresses`, decayed count]. */
  rows: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative(), Num])),
});

export type AnalysisState = z.infer<typeof AnalysisStateSchema>;

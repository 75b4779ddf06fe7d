/** GET /v1/exit-health's and GET /v1/exits/{id}/health-history's answers (routes/exit-health.ts), apart so that the dashboard's types import only zod. */
import { z } from 'zod';
import { When } from './api-schemas.js';

export const ExitHealthView = z.object({
  exits: z.array(z.object({ id: z.string(), health: z.enum(['up', 'down', 'draining']) })),
  note: z.string(),
});

export const HealthHistoryQuery = z
  .object({
    range: z.string().regex(/^\d{1,4}[mhd]$/, 'a range like 60m, 24h or 7d').optional().describe('how far back from now: 60m, 24h, 7d… (instead of from/to; at most 10,000 minutes)'),
    from: When.optional().describe('first minute (UTC); default: 24 hours back'),
    to: When.optional().describe('end (exclusive, UTC); default: now'),
  })
  .strict();

const State = z.enum(['up', 'down']);
const LastProbe = z.object({ at: z.string(), ok: z.boolean(), latencyMs: z.number().nullable(), error: z.string().nullable() });

export const HealthHistoryView = z.object({
  exit: z.string(),
  /** Live, as GET /v1/exit-health says it. */
  health: z.enum(['up', 'down', 'draining']),
  from: z.string(),
  to: z.string(),
  /** Each ingress node's latest report of this exit. */
  nodes: z.array(z.object({ node: z.string(), state: State, reportedAt: z.string(), fresh: z.boolean(), lastProbe: LastProbe.nullable() })),
  /** Up/down transitions per node, oldest first (the newest 2,000 of the window; truncated says when more). */
  transitions: z.array(z.object({ node: z.string(), from: State, to: State, at: z.string(), reason: z.string() })),
  truncated: z.boolean(),
  /** Probes per UTC minute, summed over the nodes; only minutes with probes. */
  series: z.array(z.object({ minute: z.string(), ok: z.number(), failed: z.number(), latencyMs: z.number().nullable() })),
});

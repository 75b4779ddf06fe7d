/** API shapes of the login records and top target domains (routes/login-domain.ts; issue 16). */
import { z } from 'zod';
import { When } from './api-schemas.js';

const Range = z.string().regex(/^\d{1,4}[mhd]$/, 'a range like 60m, 48h or 30d');

export const LoginsQuery = z
  .object({
    by: z.enum(['minute', 'hour', 'day']).default('hour').describe('period of each point of the series'),
    range: Range.optional().describe('how far back from now: 60m, 48h, 30d… (instead of from/to)'),
    from: When.optional().describe('first minute (UTC); default: 60 minutes, 48 hours or 31 days back; at most 10,000 points'),
    to: When.optional().describe('end (exclusive, UTC); default: now'),
  })
  .strict();

const LoginPoint = z.object({ period: z.string(), ok: z.number(), failed: z.number() });
const LoginPrefix = z.object({
  /** Source /24 (IPv4) or /48 (IPv6); '(other)' for what the ingress folded past its per-minute bound. */
  prefix: z.string(),
  ok: z.number(),
  failed: z.number(),
  /** By outcome: ok, bad_password, unknown_user, no_password, bad_username, source_not_allowed, suspended, rate_limited, other. */
  outcomes: z.record(z.string(), z.number()),
});
export const LoginsView = z.object({
  customerId: z.string(),
  login: z.string(),
  by: z.enum(['minute', 'hour', 'day']),
  from: z.string(),
  to: z.string(),
  /** One point per period over the window, empty periods as zeros. */
  series: z.array(LoginPoint),
  /** The source prefixes with the most failures (then successes), at most 200. */
  prefixes: z.array(LoginPrefix),
  /** Prefixes beyond those listed. */
  prefixesOmitted: z.number(),
  totals: z.object({ ok: z.number(), failed: z.number() }),
});

export const DomainsQuery = z
  .object({
    period: z
      .string()
      .regex(/^(\d{1,4}[mhd]|\d{4}-\d{2}(-\d{2}(T\d{2})?)?)$/, 'a range back from now (24h, 7d, 30d) or a calendar period (2026-12, 2026-12-06, 2026-12-06T15)')
      .optional()
      .describe('a range back from now (24h, 7d, 30d) or a calendar period (YYYY-MM, YYYY-MM-DD, YYYY-MM-DDTHH), UTC; default 24h'),
    from: When.optional().describe('first minute (UTC), instead of period'),
    to: When.optional().describe('end (exclusive, UTC); default: now'),
    limit: z.coerce.number().int().min(1).max(100).default(10).describe('how many domains (top by bytes, both ways)'),
  })
  .strict();

const DomainRow = z.object({
  /** Lower-cased registrable-ish name; 'ip' for address targets; '(other)' for names past the per-minute top K. */
  domain: z.string(),
  bytesUp: z.number(),
  bytesDown: z.number(),
  connections: z.number(),
});
export const DomainsView = z.object({
  customerId: z.string(),
  login: z.string(),
  from: z.string(),
  to: z.string(),
  limit: z.number(),
  domains: z.array(DomainRow),
  /** Every domain of the window, listed or not. */
  totals: z.object({ bytesUp: z.number(), bytesDown: z.number(), connections: z.number(), domains: z.number() }),
});

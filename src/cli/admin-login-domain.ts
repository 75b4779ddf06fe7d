/** `hopgate usage domains CUSTOMER` and `hopgate logins CUSTOMER`: top target domains and login records over the control-plane API. */
import type { z } from 'zod';
import type { DomainsView, LoginsView } from '../control/login-domain-schemas.js';
import { AdminError, COMMON_HELP, COMMON_OPTIONS, adminClient, bytes, printJson, table } from './admin-client.js';
import { processOutput, type CliOutput } from './output.js';
import { parse } from './args.js';
import { OPEN_END } from '../control/routes/usage-window.js';

export const DOMAINS_USAGE = `usage: hopgate usage domains CUSTOMER [--period 24h|7d|30d|YYYY-MM|YYYY-MM-DD|YYYY-MM-DDTHH] [--limit N] [--json]

  CUSTOMER  id or login
  --period  a range back from now, or a calendar period, UTC (default 24h)
  --limit   how many domains, top by bytes both ways (default 10, at most 100)
  Domains are lower-cased registrable-ish names ("ip": address targets; "(other)": names
  past the ingress's 100 per customer per minute).

${COMMON_HELP}`;

export const LOGINS_USAGE = `usage: hopgate logins CUSTOMER [--by minute|hour|day] [--range 60m|48h|30d] [--from …] [--to …] [--json]

  CUSTOMER  id or login
  --by      period of each point (default hour); --range: how far back (default 60 minutes, 48 hours, 31 days)
  Prints logins ok/failed per source prefix (/24, /48) with the failure outcomes, then per period.

${COMMON_HELP}`;

/** The API's answers (src/control/login-domain-schemas.ts): a change there that this file does not follow fails the build. */
type DomainsAnswer = z.infer<typeof DomainsView>;
type LoginsAnswer = z.infer<typeof LoginsView>;

const window = (from: string, to: string): string => `${from}${to === OPEN_END ? ' to now' : ` to ${to}`} (UTC)`;

export async function domainsCommand(argv: string[], out: CliOutput = processOutput): Promise<void> {
  const { values, positionals } = parse(argv, { ...COMMON_OPTIONS, period: { type: 'string' }, limit: { type: 'string' } });
  if (values.help) {
    out.stdout(DOMAINS_USAGE);
    return;
  }
  const who = positionals[0];
  if (!who) throw new AdminError('usage domains: CUSTOMER (id or login) is required');
  const q = new URLSearchParams();
  if (values.period !== undefined) q.set('period', values.period);
  if (values.limit !== undefined) q.set('limit', values.limit);
  const r = await adminClient(values.control, values.token, values['state-dir']).request<DomainsAnswer>('GET', `/v1/customers/${encodeURIComponent(who)}/domains?${q.toString()}`);
  if (values.json) return printJson(out, r);
  out.stdout(`top domains of ${r.login} from ${window(r.from, r.to)}\n`);
  if (r.domains.length === 0) return void out.stdout('no traffic recorded\n');
  out.stdout(
    table(
      ['DOMAIN', 'UP', 'DOWN', 'CONNS'],
      [...r.domains.map((d) => [d.domain, bytes(d.bytesUp), bytes(d.bytesDown), String(d.connections)]), [`total (${r.totals.domains} domains)`, bytes(r.totals.bytesUp), bytes(r.totals.bytesDown), String(r.totals.connections)]],
    ),
  );
}

export async function loginsCommand(argv: string[], out: CliOutput = processOutput): Promise<void> {
  const { values, positionals } = parse(argv, { ...COMMON_OPTIONS, by: { type: 'string', default: 'hour' }, range: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' } });
  if (values.help) {
    out.stdout(LOGINS_USAGE);
    return;
  }
  const who = positionals[0];
  if (!who) throw new AdminError('logins: CUSTOMER (id or login) is required');
  if (!['minute', 'hour', 'day'].includes(values.by)) throw new AdminError('--by must be minute, hour or day');
  const q = new URLSearchParams({ by: values.by });
  for (const k of ['range', 'from', 'to'] as const) if (values[k] !== undefined) q.set(k, values[k]);
  const r = await adminClient(values.control, values.token, values['state-dir']).request<LoginsAnswer>('GET', `/v1/customers/${encodeURIComponent(who)}/logins?${q.toString()}`);
  if (values.json) return printJson(out, r);
  out.stdout(`logins of ${r.login} from ${window(r.from, r.to)}: ${r.totals.ok} ok, ${r.totals.failed} failed\n`);
  if (r.prefixes.length === 0) return;
  const failures = (o: Record<string, number>): string =>
    Object.entries(o)
      .filter(([k]) => k !== 'ok')
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
  out.stdout(table(['SOURCE PREFIX', 'OK', 'FAILED', 'OUTCOMES'], r.prefixes.map((p) => [p.prefix, String(p.ok), String(p.failed), failures(p.outcomes)])));
  if (r.prefixesOmitted > 0) out.stdout(`(${r.prefixesOmitted} more prefixes)\n`);
  const busy = r.series.filter((p) => p.ok + p.failed > 0);
  if (busy.length > 0) out.stdout(table(['PERIOD (UTC)', 'OK', 'FAILED'], busy.map((p) => [p.period, String(p.ok), String(p.failed)])));
}

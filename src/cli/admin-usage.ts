/** `hopgate usage [LOGIN]`: usage per period, customer and exit over the control-plane API. */
import { AdminError, COMMON_HELP, COMMON_OPTIONS, adminClient, bytes, printJson, table } from './admin-client.js';
import { parse } from './args.js';
import { processOutput, type CliOutput } from './output.js';
import { OPEN_END } from '../control/routes/usage-window.js';

/** What the rows without an exit are: never an exit called "direct". */
const NO_EXIT_NOTE = 'no exit carried these connections: refused before an exit was chosen (counted in FAILED), or sent straight to the target by an ingress that has no exits';

export const USAGE_USAGE = `usage: hopgate usage [LOGIN] [--by minute|hour|day|month] [--exit ID] [--node ID]
                     [--from YYYY-MM-DDTHH:MM] [--to …] [--final] [--json]
       hopgate usage domains CUSTOMER [--period 24h|7d|YYYY-MM…] [--limit N]   top target domains

  LOGIN     one customer (default: every customer)
  --by      period of each row (default hour; minute: the last 60, hour: 48, day: 31, month: 12)
  --exit    one exit, or '(none)' (quoted): the connections no exit carried, see below;  --node  one ingress node
  --final   only closed minutes (leave out the minutes still open on the ingresses)

${COMMON_HELP}
EXIT (none): ${NO_EXIT_NOTE}
`;

interface Row {
  period: string;
  customerId: string;
  login: string;
  exitId: string;
  bytesUp: number;
  bytesDown: number;
  connections: number;
  failures: number;
}

// A customer whose login is "domains" is reached by id, or as `hopgate usage -- domains`.
const asksForDomains = (argv: readonly string[]): boolean => argv[0] === 'domains';

/** What `hopgate usage [domains] --help` prints: the subcommand has its own usage. */
export async function usageHelp(argv: readonly string[]): Promise<string> {
  return asksForDomains(argv) ? (await import('./admin-login-domain.js')).DOMAINS_USAGE : USAGE_USAGE;
}

export async function usageCommand(argv: string[], out: CliOutput = processOutput): Promise<void> {
  if (asksForDomains(argv)) return (await import('./admin-login-domain.js')).domainsCommand(argv.slice(1), out);
  const { values, positionals } = parse(argv, {
    ...COMMON_OPTIONS,
    by: { type: 'string', default: 'hour' },
    exit: { type: 'string' },
    node: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    final: { type: 'boolean', default: false },
  });
  if (values.help || positionals[0] === 'help') {
    out.stdout(USAGE_USAGE);
    return;
  }
  if (!['minute', 'hour', 'day', 'month'].includes(values.by)) throw new AdminError('--by must be minute, hour, day or month');
  const q = new URLSearchParams({ by: values.by });
  if (positionals[0]) q.set('customer', positionals[0]);
  // The API's name for "no exit" is 'direct' (or ''); the CLI's is '(none)', as its table prints it
  // (parentheses: no exit id can have them, so no exit is taken for it).
  if (values.exit !== undefined) q.set('exit', values.exit === '(none)' ? '' : values.exit);
  if (values.node !== undefined) q.set('node', values.node);
  if (values.from !== undefined) q.set('from', values.from);
  if (values.to !== undefined) q.set('to', values.to);
  if (values.final) q.set('live', 'false');
  const client = adminClient(values.control, values.token, values['state-dir']);
  const r = await client.request<{ by: string; from: string; to: string; rows: Row[]; totals: Omit<Row, 'period' | 'customerId' | 'login' | 'exitId'> }>('GET', `/v1/usage?${q.toString()}`);
  if (values.json) return printJson(out, r);
  if (r.rows.length === 0) {
    // The API answers for any login (a deleted customer's usage stays); nothing at all under a name nobody has is a typo.
    const login = positionals[0];
    if (login !== undefined) {
      const found = await client.request<{ customers: unknown[] }>('GET', `/v1/customers?${new URLSearchParams({ login }).toString()}`);
      if (found.customers.length === 0) throw new AdminError(`no such customer '${login}' (and no usage recorded under that login)`);
    }
    out.stdout(`no usage by ${r.by} from ${r.from}${r.to === OPEN_END ? '' : ` to ${r.to}`} (UTC)\n`);
    return;
  }
  out.stdout(
    table(
      ['PERIOD (UTC)', 'LOGIN', 'EXIT', 'UP', 'DOWN', 'CONNS', 'FAILED'],
      [
        ...r.rows.map((x) => [x.period, x.login, x.exitId || '(none)', bytes(x.bytesUp), bytes(x.bytesDown), String(x.connections), String(x.failures)]),
        ['total', '', '', bytes(r.totals.bytesUp), bytes(r.totals.bytesDown), String(r.totals.connections), String(r.totals.failures)],
      ],
    ),
  );
  if (r.rows.some((x) => x.exitId === '')) out.stdout(`(none): ${NO_EXIT_NOTE}\n`);
}

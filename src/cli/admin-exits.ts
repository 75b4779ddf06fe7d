/** `hopgate exits add|list|show|drain|undrain|delete`: the exit inventory over the control-plane API. */
import type { ExitViewT } from '../control/api-schemas.js';
import { AdminError, COMMON_OPTIONS, adminClient, printJson, runAdmin, table } from './admin-client.js';
import { parse } from './args.js';

export const EXITS_USAGE = `usage: hopgate exits <add|list|show|drain|undrain|delete> [ID] [options]

  add ID --host H --port P [--kind hopgate|socks5|http] [--username U] [--password P]
         [--egress-ip IP] [--country cc] [--state S] [--city C] [--asn N] [--tag T]...
  list                   every exit
  show ID
  drain ID | undrain ID  stop / resume new connections through the exit
  delete ID [--force]    --force also takes it out of the customer lists that name it

  --control URL (HOPGATE_CONTROL_URL)  --token T (HOPGATE_ADMIN_TOKEN)  --json
`;

function rows(list: ExitViewT[]): string {
  return table(
    ['ID', 'KIND', 'ADDRESS', 'EGRESS', 'PLACE', 'TAGS', 'CUSTOMERS', 'STATE'],
    list.map((e) => [
      e.id,
      e.kind,
      `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}${e.via.length > 0 ? ` via ${e.via.length}` : ''}`,
      e.egressIp ?? '-',
      [e.country, e.state, e.city, e.asn !== null ? `AS${e.asn}` : null].filter((x) => x !== null).join('/') || '-',
      e.tags.join(',') || '-',
      String(e.customers),
      e.drain ? 'draining' : 'active',
    ]),
  );
}

export async function exitsCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, {
    ...COMMON_OPTIONS,
    host: { type: 'string' },
    port: { type: 'string' },
    kind: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    'egress-ip': { type: 'string' },
    country: { type: 'string' },
    state: { type: 'string' },
    city: { type: 'string' },
    asn: { type: 'string' },
    tag: { type: 'string', multiple: true },
    force: { type: 'boolean', default: false },
  });
  const [sub, id] = positionals;
  if (values.help || sub === undefined || sub === 'help') {
    process.stdout.write(EXITS_USAGE);
    return;
  }
  const needId = (): string => {
    if (!id) throw new AdminError(`exits ${sub}: ID is required`);
    return id;
  };
  await runAdmin(async () => {
    const client = adminClient(values.control, values.token, values['state-dir']);
    const path = (): string => `/v1/exits/${encodeURIComponent(needId())}`;
    switch (sub) {
      case 'add': {
        if (!values.host || !values.port) throw new AdminError('exits add: --host and --port are required');
        const body = {
          id: needId(),
          host: values.host,
          port: Number(values.port),
          ...(values.kind ? { kind: values.kind } : {}),
          ...(values.username ? { username: values.username } : {}),
          ...(values.password ? { password: values.password } : {}),
          ...(values['egress-ip'] ? { egressIp: values['egress-ip'] } : {}),
          ...(values.country ? { country: values.country } : {}),
          ...(values.state ? { state: values.state } : {}),
          ...(values.city ? { city: values.city } : {}),
          ...(values.asn ? { asn: Number(values.asn) } : {}),
          ...(values.tag ? { tags: values.tag } : {}),
        };
        const e = await client.request<ExitViewT>('POST', '/v1/exits', body);
        if (values.json) return printJson(e);
        process.stdout.write(`exit ${e.id} added\n`);
        return;
      }
      case 'list': {
        const { exits } = await client.request<{ exits: ExitViewT[] }>('GET', '/v1/exits');
        if (values.json) return printJson(exits);
        process.stdout.write(exits.length > 0 ? rows(exits) : 'no exits\n');
        return;
      }
      case 'show': {
        const e = await client.request<ExitViewT>('GET', path());
        if (values.json) return printJson(e);
        process.stdout.write(rows([e]));
        return;
      }
      case 'drain':
      case 'undrain': {
        const e = await client.request<ExitViewT>('PATCH', path(), { drain: sub === 'drain' });
        if (values.json) return printJson(e);
        process.stdout.write(`exit ${e.id} ${e.drain ? 'is draining: no new connections' : 'takes connections again'}\n`);
        return;
      }
      case 'delete': {
        await client.request('DELETE', `${path()}${values.force ? '?force=true' : ''}`);
        if (values.json) return printJson({ deleted: id });
        process.stdout.write(`exit ${id} deleted\n`);
        return;
      }
      default:
        throw new AdminError(`exits: unknown subcommand '${sub}'\n${EXITS_USAGE}`);
    }
  });
}

/** `hopgate user add|list|show|suspend|resume|rotate|delete`: customers over the control-plane API. */
import type { CustomerViewT } from '../control/api-schemas.js';
import { AdminError, COMMON_HELP, COMMON_OPTIONS, adminClient, bytes, printJson, table, type AdminClient } from './admin-client.js';
import { parse } from './args.js';
import { processOutput, type CliOutput } from './output.js';

export const USER_USAGE = `usage: hopgate user <add|list|show|suspend|resume|rotate|delete> [LOGIN] [options]

  add LOGIN [--source CIDR]... [--source-auth] [--max-connections N] [--exit ID]...
            [--quota-bytes N|10GB [--quota-period hour|day|month]] [--up BYTES/S] [--down BYTES/S]
                         create a customer; prints the generated password (shown once)
  list                   every customer
  show LOGIN             one customer
  suspend LOGIN | resume LOGIN
  rotate LOGIN           new generated password (shown once)
  delete LOGIN

${COMMON_HELP}`;

async function byLogin(client: AdminClient, login: string): Promise<CustomerViewT> {
  const { customers } = await client.request<{ customers: CustomerViewT[] }>('GET', `/v1/customers?login=${encodeURIComponent(login)}`);
  const c = customers[0];
  if (!c) throw new AdminError(`no customer with login '${login}'`);
  return c;
}

function limitsText(c: CustomerViewT): string {
  const parts: string[] = [];
  if (c.maxConnections !== null) parts.push(`conns ${c.maxConnections}`);
  if (c.bandwidth?.upBytesPerSec !== undefined) parts.push(`up ${bytes(c.bandwidth.upBytesPerSec)}/s`);
  if (c.bandwidth?.downBytesPerSec !== undefined) parts.push(`down ${bytes(c.bandwidth.downBytesPerSec)}/s`);
  if (c.quota) parts.push(`quota ${bytes(c.quota.bytes)}/${c.quota.period}`);
  return parts.join(', ') || '-';
}

function customerRows(list: CustomerViewT[]): string {
  return table(
    ['LOGIN', 'STATUS', 'SOURCES', 'EXITS', 'LIMITS', 'ID'],
    list.map((c) => [
      c.login,
      c.status,
      c.sources.length > 0 ? `${c.sources.join(',')}${c.sourceAuth ? ' (no password)' : ''}` : '-',
      c.exits.length > 0 || c.pools.length > 0 ? [...c.exits, ...c.pools.map((p) => `pool(${Object.entries(p).map(([k, v]) => `${k}=${v}`).join(',')})`)].join(',') : 'all',
      limitsText(c),
      c.id,
    ]),
  );
}

export async function userCommand(argv: string[], out: CliOutput = processOutput): Promise<void> {
  const { values, positionals } = parse(argv, {
    ...COMMON_OPTIONS,
    source: { type: 'string', multiple: true },
    'source-auth': { type: 'boolean', default: false },
    'max-connections': { type: 'string' },
    exit: { type: 'string', multiple: true },
    'quota-bytes': { type: 'string' },
    'quota-period': { type: 'string' },
    up: { type: 'string' },
    down: { type: 'string' },
  });
  const [sub, login] = positionals;
  if (values.help || sub === undefined || sub === 'help') {
    out.stdout(USER_USAGE);
    return;
  }
  const needLogin = (): string => {
    if (!login) throw new AdminError(`user ${sub}: LOGIN is required`);
    return login;
  };
  const int = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) throw new AdminError(`--${name} must be a positive integer`);
    return n;
  };
  // Sizes as the CLI prints them (bytes(): 1000-based B, KB, MB, GB, TB, PB), or a plain count.
  const byteCount = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|PB)?$/i.exec(v.trim());
    const n = m ? Math.round(Number(m[1]) * 1000 ** ['B', 'KB', 'MB', 'GB', 'TB', 'PB'].indexOf((m[2] ?? 'B').toUpperCase())) : NaN;
    if (!Number.isSafeInteger(n) || n <= 0) throw new AdminError(`--${name} must be a positive number of bytes, e.g. 10000000000 or 10GB (1 GB = 1000 MB)`);
    return n;
  };
  const client = adminClient(values.control, values.token, values['state-dir']);
  switch (sub) {
    case 'add': {
      const up = int('up', values.up);
      const down = int('down', values.down);
      const quotaBytes = byteCount('quota-bytes', values['quota-bytes']);
      const body = {
        login: needLogin(),
        sources: values.source ?? [],
        sourceAuth: values['source-auth'],
        exits: values.exit ?? [],
        ...(values['max-connections'] !== undefined ? { maxConnections: int('max-connections', values['max-connections']) } : {}),
        ...(up !== undefined || down !== undefined ? { bandwidth: { ...(up ? { upBytesPerSec: up } : {}), ...(down ? { downBytesPerSec: down } : {}) } } : {}),
        ...(quotaBytes !== undefined ? { quota: { bytes: quotaBytes, ...(values['quota-period'] ? { period: values['quota-period'] } : {}) } } : {}),
      };
      const created = await client.request<{ customer: CustomerViewT; password: string }>('POST', '/v1/customers', body);
      if (values.json) return printJson(out, created);
      out.stdout(`customer ${created.customer.login} created (id ${created.customer.id})\npassword: ${created.password}\n(shown once: only its hash is stored; 'hopgate user rotate ${created.customer.login}' makes a new one)\n`);
      return;
    }
    case 'list': {
      const { customers } = await client.request<{ customers: CustomerViewT[] }>('GET', '/v1/customers');
      if (values.json) return printJson(out, customers);
      out.stdout(customers.length > 0 ? customerRows(customers) : 'no customers\n');
      return;
    }
    case 'show': {
      const c = await byLogin(client, needLogin());
      if (values.json) return printJson(out, c);
      out.stdout(customerRows([c]));
      out.stdout(`created ${c.createdAt}, updated ${c.updatedAt}, password ${c.passwordSet ? `set ${c.passwordChangedAt}` : 'none'}\n`);
      return;
    }
    case 'suspend':
    case 'resume': {
      const c = await byLogin(client, needLogin());
      const updated = await client.request<CustomerViewT>('PATCH', `/v1/customers/${encodeURIComponent(c.id)}`, { status: sub === 'suspend' ? 'suspended' : 'active' });
      if (values.json) return printJson(out, updated);
      out.stdout(`customer ${updated.login} is ${updated.status}\n`);
      return;
    }
    case 'rotate': {
      const c = await byLogin(client, needLogin());
      const r = await client.request<{ password: string }>('POST', `/v1/customers/${encodeURIComponent(c.id)}/credentials/rotate`);
      if (values.json) return printJson(out, { login: c.login, id: c.id, password: r.password });
      out.stdout(`new password for ${c.login}: ${r.password}\n(shown once)\n`);
      return;
    }
    case 'delete': {
      const c = await byLogin(client, needLogin());
      await client.request('DELETE', `/v1/customers/${encodeURIComponent(c.id)}`);
      if (values.json) return printJson(out, { deleted: c.login, id: c.id });
      out.stdout(`customer ${c.login} deleted\n`);
      return;
    }
    default:
      throw new AdminError(`user: unknown subcommand '${sub}'\n${USER_USAGE}`);
  }
}

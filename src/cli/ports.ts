/**
 * `hopgate ports <login>`: the port → exit table a customer needs. Asks the
 * running ingress (its admin port) for live health; without one, computes the
 * table from the configuration file with every exit assumed up.
 */
import { existsSync } from 'node:fs';
import { compileSnapshot } from '../ingress/config/snapshot.js';
import { ConfigError, loadIngressYaml } from '../ingress/config/from-yaml.js';
import { formatPortTable, portTable, type PortTable } from '../shared/routing/port-table.js';
import { fail, parse } from './args.js';

export async function portsCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, {
    config: { type: 'string', default: '.hopgate/ingress.yaml' },
    admin: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const login = positionals[0];
  if (!login) fail('usage: hopgate ports <login> [--config FILE] [--admin http://HOST:PORT] [--json]');
  if (!existsSync(values.config)) fail(`no configuration at ${values.config} (run \`hopgate up\` first, or pass --config)`);
  let config;
  try {
    config = loadIngressYaml(values.config);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const admin = values.admin ?? (config.metrics ? `http://${config.metrics.host}:${config.metrics.port}` : undefined);
  // The admin port's bearer token: the file's (`hopgate up` writes it there), or HOPGATE_INGRESS_ADMIN_TOKEN.
  const token = process.env.HOPGATE_INGRESS_ADMIN_TOKEN || config.metrics?.token;
  let table: PortTable | undefined;
  let live = false;
  let note = '(no running ingress answered: health unknown, every exit shown as up)';
  if (admin) {
    try {
      const res = await fetch(`${admin}/v1/ports/${encodeURIComponent(login)}`, { signal: AbortSignal.timeout(5000), ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
      if (res.ok) {
        table = (await res.json()) as PortTable;
        live = true;
      } else if (res.status === 401 || res.status === 403) {
        note = `(the ingress admin port refused: ${res.status}; set metrics.token in ${values.config} or HOPGATE_INGRESS_ADMIN_TOKEN. Health unknown, every exit shown as up)`;
      }
    } catch {
      // not running: fall back to the file
    }
  }
  if (!table) {
    const user = compileSnapshot(config, 0).usersByLogin.get(login);
    if (!user) fail(`no customer '${login}' in ${values.config}`);
    table = portTable(user.route, login, config.listen.ports, () => true);
  }
  if (values.json) return void process.stdout.write(JSON.stringify({ ...table, live }) + '\n');
  process.stdout.write(formatPortTable(table));
  if (!live) process.stdout.write(note + '\n');
}

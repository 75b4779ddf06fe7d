/**
 * `hopgate exit --connect-to HOST:7443`: a reverse-connected exit. It opens no
 * port at all: it dials the ingress's tunnel port and keeps a pool of idle
 * work connections there (docs/REVERSE-EXITS.md).
 */
import { readFileSync } from 'node:fs';
import { ReverseExitClient } from '../exit/reverse-client.js';
import { TargetPolicy } from '../ingress/guard/target-policy.js';
import { createLogger } from '../shared/log.js';
import { fail, parse, portRange } from './args.js';
import { onShutdownSignal } from './signals.js';

export async function reverseExitCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    'connect-to': { type: 'string' },
    id: { type: 'string' },
    'token-file': { type: 'string' },
    ca: { type: 'string' },
    servername: { type: 'string' },
    pool: { type: 'string', default: '8' },
    egress: { type: 'string' },
    'egress-ports': { type: 'string' },
    'allow-target': { type: 'string', multiple: true },
    'deny-target': { type: 'string', multiple: true },
    'allow-port': { type: 'string', multiple: true },
    'drain-ms': { type: 'string', default: '10000' },
    'log-level': { type: 'string', default: 'info' },
  });
  const m = /^(.+):(\d+)$/.exec(values['connect-to'] ?? '');
  if (!m) fail('--connect-to must be HOST:PORT (the ingress tunnel port, 7443 by default)');
  if (!values.id) fail('--id ID is required (the exit id configured on the ingress, kind: reverse)');
  const token = values['token-file'] ? readFileSync(values['token-file'], 'utf8').trim() : process.env.HOPGATE_EXIT_TOKEN;
  if (!token) fail('the exit token comes from --token-file FILE or HOPGATE_EXIT_TOKEN');
  const pool = Number(values.pool);
  if (!Number.isInteger(pool) || pool < 1 || pool > 100_000) fail('--pool must be 1-100000');
  const ports = (values['allow-port'] ?? []).map(Number);
  if (ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) fail('--allow-port must be a port number');
  let policy: TargetPolicy;
  try {
    policy = new TargetPolicy({ allow: values['allow-target'] ?? [], deny: values['deny-target'] ?? [], ports });
  } catch (err) {
    fail(`--allow-target/--deny-target: ${(err as Error).message}`);
  }
  const log = createLogger(values['log-level'], { role: 'exit', mode: 'reverse', exit: values.id });
  const client = new ReverseExitClient({
    host: m[1]!.replace(/^\[|\]$/g, ''),
    port: Number(m[2]),
    id: values.id,
    token,
    ca: values.ca ? readFileSync(values.ca) : undefined,
    servername: values.servername,
    pool,
    egress: values.egress,
    egressPorts: portRange('--egress-ports', values['egress-ports']),
    policy,
    log,
  }).start();
  onShutdownSignal(() => client.stop(Number(values['drain-ms'])));
  await client.ready;
  process.stdout.write(JSON.stringify({ ready: true, connectTo: values['connect-to'], exit: values.id, pool, egress: values.egress ?? null }) + '\n');
}

/**
 * `hopgate exit --connect-to HOST:7443`: a reverse-connected exit. It opens no
 * port at all: it dials the ingress's tunnel port and keeps a few links there,
 * one stream per tunnel — or, with --work-connections (ingresses older than
 * links), a pool of idle work connections (docs/REVERSE-EXITS.md).
 */
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { DEFAULT_KEY_CHECK_MS, DEFAULT_LINKS, DEFAULT_POOL, ReverseExitClient } from '../exit/reverse-client.js';
import { TargetPolicy } from '../shared/net/target-policy.js';
import { createLogger } from '../shared/log.js';
import { adminFlag, fail, intFlag, linkKeysEveryMs, millisFlag, parse, portRange } from './args.js';
import { onShutdownSignal } from './signals.js';
import { startAdminServer } from '../shared/admin-server.js';
import { boundPort } from '../shared/listen.js';
import { reverseExitHealth, reverseExitMetrics } from '../exit/reverse-metrics.js';
import { LinkIdentitySource } from '../link/identity.js';

export async function reverseExitCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    'connect-to': { type: 'string' },
    id: { type: 'string' },
    'token-file': { type: 'string' },
    ca: { type: 'string' },
    servername: { type: 'string' },
    pool: { type: 'string', default: String(DEFAULT_POOL) },
    links: { type: 'string', default: String(DEFAULT_LINKS) },
    'work-connections': { type: 'boolean', default: false },
    'state-dir': { type: 'string' },
    'link-keys-every-ms': { type: 'string', default: String(DEFAULT_KEY_CHECK_MS) },
    egress: { type: 'string' },
    egress6: { type: 'string' },
    'egress-ports': { type: 'string' },
    'allow-target': { type: 'string', multiple: true },
    'deny-target': { type: 'string', multiple: true },
    'allow-port': { type: 'string', multiple: true },
    'drain-ms': { type: 'string', default: '10000' },
    admin: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
  });
  const m = /^(.+):(\d+)$/.exec(values['connect-to'] ?? '');
  if (!m) fail('--connect-to must be HOST:PORT (the ingress tunnel port, 7443 by default)');
  // Past 65535 it was ERR_SOCKET_BAD_PORT when the socket opened: a stack trace.
  const connectPort = intFlag('--connect-to', m[2]!, 1, 65535, 'the ingress tunnel port');
  if (!values.id) fail('--id ID is required (the exit id configured on the ingress, kind: reverse)');
  const token = values['token-file'] ? readFileSync(values['token-file'], 'utf8').trim() : process.env.HOPGATE_EXIT_TOKEN;
  if (!token) fail('the exit token comes from --token-file FILE or HOPGATE_EXIT_TOKEN');
  if (values.egress6 !== undefined && !isIPv6(values.egress6)) fail('--egress6 must be an IPv6 address (the IPv6 egress beside --egress)');
  const pool = intFlag('--pool', values.pool, 1, 100_000);
  const links = intFlag('--links', values.links, 1, 64);
  const mode = values['work-connections'] ? 'work' : 'link';
  const drainMs = millisFlag('--drain-ms', values['drain-ms'], 0);
  const adminAt = values.admin === undefined ? undefined : adminFlag(values.admin);
  const ports = (values['allow-port'] ?? []).map((p) => intFlag('--allow-port', p, 1, 65535, 'a target port'));
  let policy: TargetPolicy;
  try {
    policy = new TargetPolicy({ allow: values['allow-target'] ?? [], deny: values['deny-target'] ?? [], ports });
  } catch (err) {
    fail(`--allow-target/--deny-target: ${(err as Error).message}`);
  }
  const log = createLogger(values['log-level'], { role: 'exit', mode: 'reverse', exit: values.id });
  const keyCheckMs = linkKeysEveryMs(values['link-keys-every-ms']);
  // Its link identity (made on first start): presented as a client certificate, for ingresses that pin it.
  // Followed: after `hopgate link-key promote --dir` new links present the new key, without a restart.
  const source = values['state-dir']
    ? new LinkIdentitySource(values['state-dir'], `hopgate reverse exit ${values.id}`, (err) => log.warn({ err: err.message }, 'link identity unreadable; the key in force stays'))
    : undefined;
  const identity = source?.current();
  if (identity) process.stderr.write(`hopgate exit: link fingerprint ${identity.fingerprint} (pin it as linkFingerprint of exit ${values.id} on the ingress)\n`);
  const client = new ReverseExitClient({
    host: m[1]!.replace(/^\[|\]$/g, ''),
    port: connectPort,
    id: values.id,
    token,
    ca: values.ca ? readFileSync(values.ca) : undefined,
    servername: values.servername,
    pool,
    mode,
    links,
    identity: source,
    keyCheckMs,
    egress: values.egress,
    egress6: values.egress6,
    egressPorts: portRange('--egress-ports', values['egress-ports']),
    policy,
    drainTimeoutMs: drainMs,
    log,
  }).start();
  // Its own /metrics and /healthz, only when asked for (loopback unless a host is given): the exit opens no other port.
  const admin = adminAt === undefined ? undefined : await startAdminServer(...adminAt, reverseExitMetrics(client), () => reverseExitHealth(client));
  // The client's retry timer is unref'd (it must not hold an embedding process open), so while the
  // ingress is unreachable nothing would keep this process alive: it lives until a signal.
  const lifetime = setInterval(() => undefined, 1 << 30);
  onShutdownSignal(async () => {
    clearInterval(lifetime);
    admin?.close();
    await client.stop(drainMs);
  });
  await client.ready;
  const adminPort = boundPort(admin);
  process.stdout.write(JSON.stringify({ ready: true, connectTo: values['connect-to'], exit: values.id, mode, links: mode === 'link' ? links : null, linkFingerprint: identity?.fingerprint ?? null, pool, egress: values.egress ?? null, egress6: values.egress6 ?? null, admin: adminPort ?? null }) + '\n');
}

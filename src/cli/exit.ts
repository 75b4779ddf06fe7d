/**
 * `hopgate exit`: a SOCKS5 relay for ingresses only. Who may use it: a
 * connection from an allow-listed ingress address AND authenticating with the
 * relay secret (RFC 1929, user `ingress`). Both, because a leaked secret alone
 * must not open a proxy to the world, and a spoofed or shared source address
 * alone must not either. Traffic leaves from the egress address; the exit
 * applies its own target policy on resolved addresses. docs/EXITS.md.
 *
 * With --link-listen, it also accepts links (issue 19): mutually authenticated
 * TLS on a port of its own, many tunnels per connection, the ingress pinned by
 * its certificate's fingerprint (--link-allow, or read from the control plane with
 * --control and the exit's link token) and the exit's own identity made on first
 * start in --state-dir (a promoted key, `hopgate link-key promote`, is taken live). The SOCKS5 port stays for one release, so
 * ingresses move over one by one (docs/EXITS.md, "Links").
 */
import type { Registry } from 'prom-client';
import { registerExitLinkMetrics } from '../exit/link-metrics.js';
import { readFileSync } from 'node:fs';
import { hashPassword } from '../shared/auth/password-hash.js';
import { Ingress } from '../ingress/ingress.js';
import { IngressConfigSchema, type IngressConfig } from '../shared/schema/ingress-config.js';
import { createLogger } from '../shared/log.js';
import { sourceRangeProblem } from '../shared/source-range.js';
import { fail, intFlag, linkKeysEveryMs, millisFlag, parse, portRange } from './args.js';
import { LIMITS } from '../shared/limits.js';
import { onShutdownSignal } from './signals.js';
import { HOPGATE_EXIT_LOGIN } from '../shared/exits/hopgate-login.js';
import { FINGERPRINT_PATTERN, LinkIdentitySource, type LinkIdentity } from '../link/identity.js';
import { ExitLinkKeys } from '../exit/link-keys.js';
import { ExitLinkListener } from '../exit/link-listener.js';
import { TargetPolicy } from '../shared/net/target-policy.js';
import type { Logger } from '../shared/log.js';

export const EXIT_LOGIN = HOPGATE_EXIT_LOGIN;

export interface ExitOptions {
  readonly host: string;
  readonly port: number;
  readonly egress: string;
  /** IPv6 egress beside an IPv4 `egress` (dual stack, docs/EXITS.md). */
  readonly egress6?: string | undefined;
  /** Source ports on the egress address (default: the kernel's ephemeral range). */
  readonly egressPorts?: readonly [number, number] | undefined;
  /** Ingress addresses allowed to connect (CIDRs). */
  readonly allowFrom: readonly string[];
  readonly secretHash: string;
  /** Special ranges this exit may reach anyway (the demo allows loopback). */
  readonly allowTargets?: readonly string[];
  readonly adminPort?: number;
  readonly logLevel?: IngressConfig['log']['level'];
  /** DNS + TCP connect to a target; the ingress waits a little longer for the answer (docs/CONFIGURATION.md). */
  readonly connectTimeoutMs?: number | undefined;
  /** Graceful shutdown's bound, and how long a drained link's UDP streams go on (--drain-ms; default LIMITS.drainTimeoutMs). */
  readonly drainTimeoutMs?: number | undefined;
}

export function exitConfig(o: ExitOptions): IngressConfig {
  return IngressConfigSchema.parse({
    listen: { host: o.host, ports: [o.port, o.port] },
    protocols: ['socks5'],
    targetPolicy: { allow: [...(o.allowTargets ?? [])] },
    egress: { localAddress: o.egress, ...(o.egress6 !== undefined ? { localAddress6: o.egress6 } : {}), ...(o.egressPorts ? { ports: [...o.egressPorts] } : {}) },
    log: { level: o.logLevel ?? 'warn', access: false },
    limits: {
      ...(o.connectTimeoutMs !== undefined ? { connectTimeoutMs: o.connectTimeoutMs } : {}),
      ...(o.drainTimeoutMs !== undefined ? { drainTimeoutMs: o.drainTimeoutMs } : {}),
    },
    // Loopback, as documented: --listen faces the ingresses and may be a public address.
    ...(o.adminPort !== undefined ? { metrics: { host: '127.0.0.1', port: o.adminPort } } : {}),
    users: [{ login: EXIT_LOGIN, passwordHash: o.secretHash, sources: [...o.allowFrom] }],
  });
}

/** The exit's link port, serving streams exactly as `config` serves SOCKS5 (its policy, egress, timeouts). */
export function startExitLinks(
  config: IngressConfig,
  link: { host: string; port: number; identity: LinkIdentity; allowIngress: readonly string[]; allowFrom: readonly string[]; heartbeatMs?: number },
  log: Logger,
): Promise<ExitLinkListener> {
  return ExitLinkListener.start({
    ...link,
    policy: new TargetPolicy(config.targetPolicy),
    egress: { localAddress: config.egress.localAddress, localAddress6: config.egress.localAddress6, localPorts: config.egress.ports },
    connectTimeoutMs: config.limits.connectTimeoutMs,
    idleTimeoutMs: config.limits.idleTimeoutMs,
    drainTimeoutMs: config.limits.drainTimeoutMs,
    log,
  });
}

/** Where the exit keeps its link identity unless --state-dir says otherwise. */
export const EXIT_STATE_DIR = '.hopgate-exit';


export async function exitCommand(argv: string[]): Promise<void> {
  // Reverse-connected: dials the ingress, listens on nothing (cli/exit-reverse.ts).
  if (argv.some((a) => a === '--connect-to' || a.startsWith('--connect-to='))) return (await import('./exit-reverse.js')).reverseExitCommand(argv);
  const { values } = parse(argv, {
    listen: { type: 'string', default: '127.0.0.2:7001' },
    egress: { type: 'string' },
    egress6: { type: 'string' },
    'egress-ports': { type: 'string' },
    'allow-from': { type: 'string', multiple: true },
    'secret-file': { type: 'string' },
    'allow-target': { type: 'string', multiple: true },
    admin: { type: 'string' },
    'connect-timeout-ms': { type: 'string' },
    'link-listen': { type: 'string' },
    'link-allow': { type: 'string', multiple: true },
    control: { type: 'string' },
    'link-token-file': { type: 'string' },
    'link-keys-every-ms': { type: 'string', default: '10000' },
    'state-dir': { type: 'string', default: EXIT_STATE_DIR },
    'drain-ms': { type: 'string', default: String(LIMITS.drainTimeoutMs) },
  });
  const m = /^(.+):(\d+)$/.exec(values.listen);
  if (!m) fail('--listen must be HOST:PORT');
  // Checked before anything starts: each arms a timer (the ingress adds its grace for an exit's answer to the connect timeout).
  const connectTimeoutMs = values['connect-timeout-ms'] !== undefined ? millisFlag('--connect-timeout-ms', values['connect-timeout-ms'], 1, { headroomMs: LIMITS.exitAnswerGraceMs }) : undefined;
  const keysEveryMs = linkKeysEveryMs(values['link-keys-every-ms']);
  const drainTimeoutMs = millisFlag('--drain-ms', values['drain-ms'], 0);
  const listenPort = intFlag('--listen', m[2]!, 0, 65535, 'its port');
  const adminPort = values.admin !== undefined ? intFlag('--admin', values.admin, 0, 65535, 'its /metrics port') : undefined;
  // Here, not where the link port opens: by then the exit already listens.
  const linkAt = values['link-listen'] !== undefined ? /^(.+):(\d+)$/.exec(values['link-listen']) : undefined;
  if (linkAt === null) fail('--link-listen must be HOST:PORT');
  const linkPort = linkAt ? intFlag('--link-listen', linkAt[2]!, 0, 65535, 'its port') : undefined;
  const secret = values['secret-file'] ? readFileSync(values['secret-file'], 'utf8').trim() : process.env.HOPGATE_EXIT_SECRET;
  if (!secret) fail('the relay secret comes from --secret-file FILE or HOPGATE_EXIT_SECRET');
  const allowFrom = values['allow-from'] ?? [];
  if (allowFrom.length === 0) fail('--allow-from CIDR is required (the ingress addresses that may use this exit)');
  for (const r of allowFrom) {
    const problem = sourceRangeProblem(r); // the ingresses' addresses: never "much of the Internet"
    if (problem) fail(`--allow-from ${problem}`);
  }
  const host = m[1]!.replace(/^\[|\]$/g, '');
  const config = exitConfig({
    host,
    port: listenPort,
    egress: values.egress ?? host,
    egress6: values.egress6,
    egressPorts: portRange('--egress-ports', values['egress-ports']),
    allowFrom,
    secretHash: await hashPassword(secret),
    allowTargets: values['allow-target'] ?? [],
    adminPort,
    connectTimeoutMs,
    drainTimeoutMs,
  });
  const linkAllow = values['link-allow'] ?? [];
  const control = values.control !== undefined ? { url: values.control, token: values['link-token-file'] ? readFileSync(values['link-token-file'], 'utf8').trim() : (process.env.HOPGATE_EXIT_LINK_TOKEN ?? '') } : undefined;
  if (control && !control.token) fail('--control needs the exit\'s link token: --link-token-file FILE or HOPGATE_EXIT_LINK_TOKEN (hopgate exits link-token ID)');
  if (control) {
    // The pins decide who may link: read over the network, they must come authenticated and untampered.
    let u: URL;
    try {
      u = new URL(control.url);
    } catch {
      fail(`--control '${control.url}' is not a URL`);
    }
    const loopback = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/.test(u.hostname);
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) fail('--control must be https:// (http:// only on loopback): the ingress pins read from it decide who may link');
  }
  if (control && linkAllow.length > 0) fail('--link-allow and --control are alternatives: with --control the ingress pins come from the control plane (hopgate exits link-token ID)');
  if (control && !linkAt) fail('--control needs --link-listen HOST:PORT (it reads the ingresses\' link pins)');
  if (linkAt && linkAllow.length === 0 && !control) fail('--link-allow FINGERPRINT or --control URL is required with --link-listen (the ingresses\' link fingerprints, given or read from the control plane)');
  if (!linkAt && linkAllow.length > 0) fail('--link-allow needs --link-listen HOST:PORT');
  for (const fp of linkAllow) if (!FINGERPRINT_PATTERN.test(fp)) fail(`--link-allow '${fp}' is not a SHA-256 fingerprint (64 hex digits, colons optional)`);
  const log = createLogger(config.log.level, { role: 'exit' });
  let registry: Registry | undefined;
  const exit = await Ingress.start(config, log, { metrics: (r) => (registry = r) });
  let links: ExitLinkListener | undefined;
  let identity: LinkIdentity | undefined;
  let keys: ExitLinkKeys | undefined;
  if (linkAt) {
    const source = new LinkIdentitySource(values['state-dir'], 'hopgate exit', (err) => log.warn({ err: err.message }, 'link identity unreadable; the key in force stays'));
    identity = source.current();
    links = await startExitLinks(config, { host: linkAt[1]!.replace(/^\[|\]$/g, ''), port: linkPort!, identity, allowIngress: linkAllow, allowFrom }, log);
    // Pins from the control plane (when given) and a promoted key of its own, followed live.
    keys = new ExitLinkKeys({ listener: links, identity: source, ...(control ? { control } : {}), everyMs: keysEveryMs, log });
    await keys.refresh();
    keys.start();
    if (registry) registerExitLinkMetrics(registry, links); // its /metrics (--admin) shows the links too
    // What ingresses pin (exits[].link.fingerprint): said at every start, made on the first.
    process.stderr.write(`hopgate exit: link fingerprint ${identity.fingerprint} (pin it as link.fingerprint on the ingress)\n`);
  }
  process.stdout.write(
    JSON.stringify({
      ready: true,
      listen: `${host}:${exit.ports()[0]}`,
      egress: config.egress.localAddress,
      egress6: config.egress.localAddress6 ?? null,
      admin: exit.adminPort,
      ...(links && identity ? { link: { listen: `${linkAt![1]}:${links.port}`, fingerprint: identity.fingerprint } } : {}),
    }) + '\n',
  );
  onShutdownSignal(async () => {
    keys?.stop();
    await Promise.all([exit.shutdown(), links?.close(config.limits.drainTimeoutMs)]);
  });
}

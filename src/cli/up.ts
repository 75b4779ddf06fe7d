/**
 * `hopgate up`: the whole network on one machine with embedded defaults, and
 * ready-to-paste usage. `--json` prints the stable contract for scripts.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { hashPassword } from '../ingress/auth/password-hash.js';
import type { IngressConfigInput } from '../shared/schema/ingress-config.js';
import { fail, parse } from './args.js';
import { startWhoami } from './demo-target.js';
import { startIngressProcesses } from './ingress-process.js';
import { onShutdownSignal } from './signals.js';
import { ensureSelfSignedCert } from './tls-cert.js';
import { EXIT_LOGIN, exitConfig } from './exit.js';
import { Ingress } from '../ingress/ingress.js';
import { createLogger } from '../shared/log.js';

export interface UpContract {
  ingress: { host: string; ports: [number, number]; tls: boolean; tlsCert?: string };
  users: Array<{ username: string; password: string }>;
  exits: Array<{ id: string; egressIp: string; country: string }>;
  control: { url: string; adminToken: string } | null;
  demoTarget?: string;
}

/** The demo network's exits: id, egress address, country. */
const DEMO_EXITS: ReadonlyArray<readonly [string, string, string]> = [
  ['us-1', '127.0.0.2', 'us'],
  ['us-2', '127.0.0.3', 'us'],
  ['de-1', '127.0.0.4', 'de'],
  ['de-2', '127.0.0.5', 'de'],
  ['gb-1', '127.0.0.6', 'gb'],
];
const EXIT_PORT = 7001;

function demoCredentials(stateDir: string): { username: string; password: string; hash?: string; exitSecret?: string } {
  const file = join(stateDir, 'demo-user.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  return { username: 'demo', password: randomBytes(9).toString('base64url') };
}

export async function upCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    json: { type: 'boolean', default: false },
    ports: { type: 'string', default: '8000-8099' },
    host: { type: 'string', default: '127.0.0.1' },
    workers: { type: 'string' },
    'state-dir': { type: 'string', default: '.hopgate' },
    'demo-port': { type: 'string', default: '7780' },
    'admin-port': { type: 'string', default: '7790' },
  });
  const m = /^(\d+)-(\d+)$/.exec(values.ports);
  if (!m) fail('--ports must look like 8000-8099');
  const ports: [number, number] = [Number(m[1]), Number(m[2])];
  const stateDir = resolve(values['state-dir']);
  mkdirSync(stateDir, { recursive: true });

  const demo = demoCredentials(stateDir);
  demo.hash ??= await hashPassword(demo.password);
  writeFileSync(join(stateDir, 'demo-user.json'), JSON.stringify(demo), { mode: 0o600 });
  const tls = ensureSelfSignedCert(join(stateDir, 'tls'));

  // Five exits on their own loopback addresses, so a target sees which one carried it.
  const secret = demo.exitSecret ?? randomBytes(18).toString('base64url');
  demo.exitSecret = secret;
  writeFileSync(join(stateDir, 'demo-user.json'), JSON.stringify(demo), { mode: 0o600 });
  const exitHash = await hashPassword(secret);
  const exits = await Promise.all(
    DEMO_EXITS.map(async ([id, ip, country]) => {
      const cfg = exitConfig({ host: ip, port: EXIT_PORT, egress: ip, allowFrom: ['127.0.0.1/32'], secretHash: exitHash, allowTargets: ['127.0.0.0/8', '::1/128'] });
      return { id, ip, country, node: await Ingress.start(cfg, createLogger('warn', { role: 'exit', exit: id })) };
    }),
  );

  const config: IngressConfigInput = {
    listen: { host: values.host, ports },
    tls,
    exits: exits.map((e) => ({ id: e.id, kind: 'hopgate' as const, host: e.ip, port: EXIT_PORT, username: EXIT_LOGIN, password: secret, egressIp: e.ip, country: e.country })),
    // The demo and its tests reach targets on loopback; production configs don't allow it.
    targetPolicy: { allow: ['127.0.0.0/8', '::1/128'] },
    log: { level: 'warn', access: false },
    // /metrics, /healthz and the live port table `hopgate ports` reads.
    metrics: { host: '127.0.0.1', port: Number(values['admin-port']) },
    users: [{ login: demo.username, passwordHash: demo.hash }],
  };
  const configPath = join(stateDir, 'ingress.yaml');
  writeFileSync(configPath, `# written by hopgate up; edit and the ingress reloads it\n${stringify(config)}`, { mode: 0o600 });

  const whoami = await startWhoami('127.0.0.1', Number(values['demo-port'])).catch(() => undefined);
  const workers = values.workers ? Number(values.workers) : availableParallelism();
  const ingress = await startIngressProcesses(configPath, { workers });
  const contract: UpContract = {
    ingress: { host: values.host, ports, tls: tls !== undefined, ...(tls ? { tlsCert: tls.cert } : {}) },
    users: [{ username: demo.username, password: demo.password }],
    exits: exits.map((e) => ({ id: e.id, egressIp: e.ip, country: e.country })),
    control: null,
    ...(whoami ? { demoTarget: `http://127.0.0.1:${values['demo-port']}/` } : {}),
  };
  process.stdout.write(values.json ? JSON.stringify(contract) + '\n' : humanBanner(contract, workers));
  onShutdownSignal(async () => {
    await ingress.stop();
    await Promise.all(exits.map((e) => e.node.shutdown(2000)));
    whoami?.close();
  });
}

function humanBanner(c: UpContract, workers: number): string {
  const { host, ports } = c.ingress;
  const u = c.users[0]!;
  const cred = `${u.username}:${u.password}`;
  const target = c.demoTarget ?? 'http://example.com/';
  const lines = [
    `hopgate is up — ingress ${host}:${ports[0]}-${ports[1]} (${workers} worker${workers > 1 ? 's' : ''}): HTTP, HTTPS, SOCKS4/4a and SOCKS5 on every port`,
    `demo user: ${u.username}  password: ${u.password}`,
    '',
    'try it:',
    `  curl -x http://${cred}@${host}:${ports[0]} ${target}`,
    `  curl -x socks5h://${cred}@${host}:${ports[0]} ${target}`,
    // SOCKS4 has no password field: the userid carries `user:password`, so curl needs the colon encoded.
    `  curl -x socks4a://${u.username}%3A${u.password}@${host}:${ports[0]} ${target}`,
  ];
  if (c.ingress.tlsCert) lines.push(`  curl --proxy-cacert ${c.ingress.tlsCert} -x https://${cred}@${host}:${ports[0]} ${target}`);
  if (c.exits.length > 0) {
    lines.push('', `exits: port ${ports[0]} picks a random one per connection; each has its own port:`);
    c.exits.forEach((e, i) => lines.push(`  ${String(ports[0] + i + 1).padEnd(6)} ${e.id.padEnd(6)} ${e.egressIp.padEnd(11)} ${e.country}`));
    lines.push(
      '',
      'or choose in the username (country, exit IP, sticky session):',
      `  curl -x http://${cred}@${host}:${ports[0] + 3} ${target}`,
      `  curl -x http://${u.username}-country-de:${u.password}@${host}:${ports[0]} ${target}`,
      `  curl -x socks5h://${u.username}-exitip-${c.exits[0]!.egressIp}:${u.password}@${host}:${ports[0]} ${target}`,
      `  curl -x socks5h://${u.username}-session-a1b2-sesstime-10:${u.password}@${host}:${ports[0]} ${target}`,
      `  hopgate ports ${u.username}        # the port table with live health (npx hopgate … from this folder)`,
    );
  }
  lines.push('', 'Ctrl-C stops it. `hopgate up --json` prints this as JSON for scripts.', '');
  return lines.join('\n');
}

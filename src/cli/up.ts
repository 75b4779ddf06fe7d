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

export interface UpContract {
  ingress: { host: string; ports: [number, number]; tls: boolean; tlsCert?: string };
  users: Array<{ username: string; password: string }>;
  exits: Array<{ id: string; egressIp: string; country: string }>;
  control: { url: string; adminToken: string } | null;
  demoTarget?: string;
}

function demoCredentials(stateDir: string): { username: string; password: string; hash?: string } {
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

  const config: IngressConfigInput = {
    listen: { host: values.host, ports },
    tls,
    // The demo and its tests reach targets on loopback; production configs don't allow it.
    targetPolicy: { allow: ['127.0.0.0/8', '::1/128'] },
    log: { level: 'warn', access: false },
    users: [{ login: demo.username, passwordHash: demo.hash }],
  };
  const configPath = join(stateDir, 'ingress.yaml');
  writeFileSync(configPath, `# written by hopgate up; edit and the ingress reloads it\n${stringify(config)}`);

  const whoami = await startWhoami('127.0.0.1', Number(values['demo-port'])).catch(() => undefined);
  const workers = values.workers ? Number(values.workers) : availableParallelism();
  const ingress = await startIngressProcesses(configPath, { workers });
  const contract: UpContract = {
    ingress: { host: values.host, ports, tls: tls !== undefined, ...(tls ? { tlsCert: tls.cert } : {}) },
    users: [{ username: demo.username, password: demo.password }],
    exits: [],
    control: null,
    ...(whoami ? { demoTarget: `http://127.0.0.1:${values['demo-port']}/` } : {}),
  };
  process.stdout.write(values.json ? JSON.stringify(contract) + '\n' : humanBanner(contract, workers));
  onShutdownSignal(async () => {
    await ingress.stop();
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
  lines.push('', 'Ctrl-C stops it. `hopgate up --json` prints this as JSON for scripts.', '');
  return lines.join('\n');
}

/** Reverse-connected exits in tests: a certificate for the tunnel port, token hashes, in-process exits. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword } from '../../src/shared/auth/password-hash.js';
import { ensureSelfSignedCert } from '../../src/cli/tls-cert.js';
import { ReverseExitClient, type ReverseExitOptions } from '../../src/exit/reverse-client.js';
import { TargetPolicy } from '../../src/shared/net/target-policy.js';
import type { Ingress } from '../../src/ingress/ingress.js';
import type { IngressConfigInput } from '../../src/shared/schema/ingress-config.js';
import { aliceHashed, USER } from './ingress.js';

export const TOKEN = 'reverse-exit-token-for-tests';
const hashes = new Map<string, Promise<string>>();

/** Cheap scrypt parameters keep tests fast. */
export function tokenHash(token = TOKEN): Promise<string> {
  let h = hashes.get(token);
  if (!h) hashes.set(token, (h = hashPassword(token, { ln: 10, r: 8, p: 1 })));
  return h;
}

let cert: { cert: string; key: string; pem: Buffer } | undefined;
/** A self-signed certificate for 127.0.0.1 / ::1 / localhost, and its PEM for the exits' `ca`. */
export function tunnelCert(): { cert: string; key: string; pem: Buffer } {
  if (!cert) {
    const c = ensureSelfSignedCert(join(mkdtempSync(join(tmpdir(), 'hopgate-rev-')), 'tls'));
    if (!c) throw new Error('openssl is needed for the tunnel certificate');
    cert = { ...c, pem: readFileSync(c.cert) };
  }
  return cert;
}

/** A self-signed certificate for one host name (a published site's HTTPS certificate). */
export function siteCert(name: string): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-site-'));
  const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', files.key, '-out', files.cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`], { stdio: 'ignore' });
  return files;
}

/** What every ingress of the reverse tests starts from: ephemeral ports, loopback targets, quiet, alice, the tunnel certificate, no exit probes. */
export async function reverseIngressBase(): Promise<IngressConfigInput & { users: object[] }> {
  const cert = tunnelCert();
  return {
    listen: { host: '127.0.0.1', ports: [0, 0] },
    targetPolicy: { allow: ['127.0.0.0/8'] },
    log: { level: 'silent', access: false },
    limits: { exitProbeIntervalMs: 0 },
    tls: { cert: cert.cert, key: cert.key },
    users: [{ login: USER.login, passwordHash: await aliceHashed() }],
  };
}

/** The ingress-side entry of a reverse exit. */
export async function reverseEntry(id: string, egressIp: string, country: string, extra: Record<string, unknown> = {}) {
  return { id, kind: 'reverse' as const, tokenHash: await tokenHash(), egressIp, country, ...extra };
}

export function tunnelPortOf(ing: Ingress): number {
  const p = ing.runtime.reverse?.tunnelPort;
  if (!p) throw new Error('ingress has no tunnel port');
  return p;
}

/**
 * An in-process reverse exit dialing `ing`, leaving from `egress`, allowed to reach loopback.
 * It speaks the work-connection protocol unless `mode: 'link'` is passed: the tests written for
 * that protocol keep checking it for exits older than links (reverse-link.test.ts covers links).
 */
export function startReverseExit(ing: Ingress | number, id: string, egress: string, extra: Partial<ReverseExitOptions> = {}): ReverseExitClient {
  return new ReverseExitClient({
    host: '127.0.0.1',
    port: typeof ing === 'number' ? ing : tunnelPortOf(ing),
    id,
    token: TOKEN,
    ca: tunnelCert().pem,
    pool: 4,
    mode: 'work',
    egress,
    policy: new TargetPolicy({ allow: ['127.0.0.0/8'], deny: [], ports: [] }),
    backoffMs: 50,
    maxBackoffMs: 500,
    ...extra,
  }).start();
}

/** A self-signed certificate for the HTTPS proxy port (made once, kept in the state directory). */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export function ensureSelfSignedCert(dir: string): { cert: string; key: string } | undefined {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  if (existsSync(cert) && existsSync(key)) return { cert, key };
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
        '-days', '825', '-subj', '/CN=hopgate ingress', '-addext', 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost'],
      { stdio: 'ignore' },
    );
    return { cert, key };
  } catch {
    return undefined; // no openssl: the HTTPS proxy stays off, the rest works
  }
}

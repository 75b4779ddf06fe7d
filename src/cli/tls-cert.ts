/**
 * A self-signed certificate for the HTTPS proxy port (made once, kept in the
 * state directory). openssl writes under temp names; the key and then the
 * certificate are renamed into place and the directory fsynced, so a crash
 * never leaves a half-written pair. A pair that does not parse (damage from
 * an older version, a full disk) is moved aside and made again.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, moveAside } from '../shared/state-file.js';

function usable(cert: string, key: string): boolean {
  try {
    new X509Certificate(readFileSync(cert));
    createPrivateKey(readFileSync(key));
    return true;
  } catch {
    return false;
  }
}

export function ensureSelfSignedCert(dir: string): { cert: string; key: string } | undefined {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  if (existsSync(cert) && existsSync(key)) {
    if (usable(cert, key)) return { cert, key };
    const movedTo = [moveAside(cert), moveAside(key)];
    process.stderr.write(`hopgate: ${dir}: the self-signed certificate or key is damaged; moved aside (${movedTo.filter(Boolean).join(', ')}) and made again\n`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmpCert = join(dir, `.cert.pem.${process.pid}.tmp`);
  const tmpKey = join(dir, `.key.pem.${process.pid}.tmp`);
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', tmpKey, '-out', tmpCert,
        '-days', '825', '-subj', '/CN=hopgate ingress', '-addext', 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost'],
      { stdio: 'ignore' },
    );
    if (!usable(tmpCert, tmpKey)) throw new Error('openssl made an unusable pair');
    // openssl does not fsync: do it before the renames, or a power loss could leave an empty pair in place.
    for (const f of [tmpKey, tmpCert]) fsyncFile(f);
    renameSync(tmpKey, key);
    renameSync(tmpCert, cert); // last: a cert.pem in place means the pair is complete
    fsyncDir(dir);
    return { cert, key };
  } catch {
    return undefined; // no openssl (or no room): the HTTPS proxy stays off, the rest works
  } finally {
    rmSync(tmpCert, { force: true });
    rmSync(tmpKey, { force: true });
  }
}

function fsyncFile(file: string): void {
  // r+ so fsync is allowed everywhere; the file is ours and was just written.
  const fd = openSync(file, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

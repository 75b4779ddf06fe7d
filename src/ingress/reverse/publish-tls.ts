/**
 * Certificates of the published sites' HTTPS port (`reverse.publishTlsListen`):
 * each site's own (`publish[].tls`), else the default (`reverse.tls`, else
 * `tls`), picked by the client's SNI. Built once per configuration (a reload
 * rereads the files, so a renewed certificate applies to new connections).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { IngressConfig } from '../../shared/schema/ingress-config.js';

export interface SiteContexts {
  /** The context for an SNI name (lower case), or the default; undefined: no certificate for it. */
  pick(servername: string | undefined): SecureContext | undefined;
}

type Files = { cert: string; key: string };

function context(files: Files): SecureContext {
  return createSecureContext({ cert: readFileSync(files.cert), key: readFileSync(files.key), minVersion: 'TLSv1.2' });
}

const built = new WeakMap<object, SiteContexts>();

/** The contexts of `config` (cached by its `reverse` section). Throws when a file cannot be read. */
export function siteContexts(config: IngressConfig): SiteContexts {
  const r = config.reverse;
  const key = r ?? config;
  let c = built.get(key);
  if (!c) {
    const fallbackFiles = r?.tls ?? config.tls;
    const fallback = fallbackFiles ? context(fallbackFiles) : undefined;
    const byHost = new Map<string, SecureContext>();
    for (const site of r?.publish ?? []) if (site.tls) byHost.set(site.host.toLowerCase(), context(site.tls));
    c = { pick: (name) => (name !== undefined ? byHost.get(name.toLowerCase()) : undefined) ?? fallback };
    built.set(key, c);
  }
  return c;
}

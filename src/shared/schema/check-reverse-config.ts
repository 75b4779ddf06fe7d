/** Cross-field rules of the reverse configuration, checked before a configuration is applied; and what it asks for. */
import type { IngressConfig } from './ingress-config.js';

/** The configuration needs the reverse side (tunnel port, registry): it has reverse exits or a `reverse` section. */
export function usesReverse(config: IngressConfig): boolean {
  return config.reverse !== undefined || config.exits.some((e) => e.kind === 'reverse');
}

/** The tunnel port exits dial (`reverse.listen`, default 127.0.0.1:7443). */
export function tunnelListen(config: IngressConfig): { host: string; port: number } {
  return config.reverse?.listen ?? { host: '127.0.0.1', port: 7443 };
}

export function checkReverseConfig(config: IngressConfig): void {
  const reverseIds = new Set(config.exits.filter((e) => e.kind === 'reverse').map((e) => e.id));
  if (reverseIds.size > 0 && !(config.reverse?.tls ?? config.tls)) {
    throw new Error('reverse exits need a certificate for the tunnel port: set reverse.tls (or tls)');
  }
  for (const site of config.reverse?.publish ?? []) {
    if (!reverseIds.has(site.exit)) throw new Error(`reverse.publish: site ${site.host} names exit '${site.exit}', which is not a reverse exit`);
  }
  const hosts = new Set<string>();
  for (const site of config.reverse?.publish ?? []) {
    const h = site.host.toLowerCase();
    if (hosts.has(h)) throw new Error(`reverse.publish: host ${site.host} appears twice`);
    hosts.add(h);
  }
  const r = config.reverse;
  if ((r?.publish.length ?? 0) > 0 && !r?.publishListen && !r?.publishTlsListen) {
    throw new Error('reverse.publish needs reverse.publishListen or reverse.publishTlsListen (the HTTP or HTTPS port published sites are served on)');
  }
  if (r?.publishTlsListen && !(r.tls ?? config.tls)) {
    const bare = r.publish.find((site) => !site.tls);
    if (bare || r.publish.length === 0) throw new Error(`reverse.publishTlsListen: ${bare ? `site ${bare.host} has` : 'the sites have'} no certificate: set its tls, or reverse.tls (or tls) as the default`);
  }
}


/**
 * A real hopgate exit accepting links (its SOCKS5 port too), and the
 * ingress-side configuration for it; identities in temporary state dirs.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ingress } from '../../src/ingress/ingress.js';
import { EXIT_LOGIN, exitConfig, startExitLinks } from '../../src/cli/exit.js';
import { createLogger } from '../../src/shared/log.js';
import { loadOrCreateLinkIdentity, type LinkIdentity } from '../../src/link/identity.js';
import type { ExitLinkListener } from '../../src/exit/link-listener.js';
import { hashPassword } from '../../src/shared/auth/password-hash.js';

export const LINK_EXIT_SECRET = 'relay-secret-for-link-tests';
let secretHash: Promise<string> | undefined;

export interface LinkExit {
  id: string;
  ip: string;
  socksPort: number;
  identity: LinkIdentity;
  /** Its state dir (link identity; `hopgate link-key --dir`). */
  dir: string;
  node: Ingress;
  links: ExitLinkListener;
  stop(): Promise<void>;
}

/** A fresh state dir holding a fresh link identity (what `hopgate ingress` makes on first start). */
export function ingressIdentityDir(): { dir: string; identity: LinkIdentity } {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-ingress-link-'));
  return { dir, identity: loadOrCreateLinkIdentity(dir, 'test ingress') };
}

export async function startLinkExit(
  id: string,
  ip: string,
  allowIngress: readonly string[],
  o: { allowTargets?: string[]; connectTimeoutMs?: number; heartbeatMs?: number; allowFrom?: string[]; drainTimeoutMs?: number } = {},
): Promise<LinkExit> {
  secretHash ??= hashPassword(LINK_EXIT_SECRET, { ln: 10, r: 8, p: 1 });
  const cfg = exitConfig({ host: ip, port: 0, egress: ip, allowFrom: o.allowFrom ?? ['127.0.0.1/32'], secretHash: await secretHash, allowTargets: o.allowTargets ?? ['127.0.0.0/8'], logLevel: 'silent', connectTimeoutMs: o.connectTimeoutMs, drainTimeoutMs: o.drainTimeoutMs });
  const node = await Ingress.start(cfg, createLogger('silent'));
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-exit-link-'));
  const identity = loadOrCreateLinkIdentity(dir, 'test exit');
  const links = await startExitLinks(cfg, { host: ip, port: 0, identity, allowIngress, allowFrom: o.allowFrom ?? ['127.0.0.1/32'], heartbeatMs: o.heartbeatMs }, createLogger('silent'));
  return {
    id,
    ip,
    socksPort: node.ports()[0]!,
    identity,
    dir,
    node,
    links,
    stop: async () => {
      await Promise.all([links.close(200), node.shutdown(200)]);
    },
  };
}

/**
 * The ingress's entry for a link exit. `socksPassword` defaults to a wrong one:
 * a tunnel that works then went over the link, never the SOCKS5 port.
 */
export function linkExitEntry(e: LinkExit, country: string, fingerprint = e.identity.fingerprint, socksPassword = 'not-the-secret') {
  return {
    id: e.id,
    kind: 'hopgate' as const,
    host: e.ip,
    port: e.socksPort,
    username: EXIT_LOGIN,
    password: socksPassword,
    egressIp: e.ip,
    country,
    link: { port: e.links.port, fingerprint },
  };
}

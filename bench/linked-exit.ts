/**
 * The link rows of the benchmarks (issue 19): one hopgate exit reached by the ingress two ways,
 * over SOCKS5 (`-cc-aa`) and over a link (`-cc-ll`), with link identities made here and pinned
 * both ways. bench/run.ts and bench/link-path.ts start it alike; bench/reverse.ts takes the identities.
 */
import { join } from 'node:path';
import { loadOrCreateLinkIdentity } from '../src/link/identity.js';

export interface PinnedLink {
  /** The ingress's `links.identityDir`. */
  readonly ingressDir: string;
  /** The exit's fingerprint, pinned in the ingress's `link: { fingerprint }`. */
  readonly exitFp: string;
  /** `hopgate exit` arguments: take links at `listen` from this ingress only. */
  readonly exitArgs: string[];
}

/** Identities of an ingress and an exit under `work` (`suffix` tells pairs apart), each pinning the other. */
export function pinnedLink(work: string, suffix: string, listen: string): PinnedLink {
  const ingressDir = join(work, `ingress-link${suffix}`);
  const ingressFp = loadOrCreateLinkIdentity(ingressDir, 'bench ingress').fingerprint;
  const exitDir = join(work, `exit-link${suffix}`);
  const exitFp = loadOrCreateLinkIdentity(exitDir, 'bench exit').fingerprint;
  return { ingressDir, exitFp, exitArgs: ['--link-listen', listen, '--link-allow', ingressFp, '--state-dir', exitDir] };
}

export interface LinkedIngress {
  readonly port: number;
  readonly user: string;
  readonly passwordHash: string;
  /** The exit's SOCKS5 address and the secret the ingress logs in with. */
  readonly exit: { readonly host: string; readonly port: number; readonly secret: string };
  readonly linkPort: number;
  readonly link: PinnedLink;
  /** Further `exits:` entries (one YAML flow mapping each). */
  readonly moreExits?: readonly string[];
}

/** A one-worker ingress's YAML: loopback targets, one customer, the exit as `one` (SOCKS5, aa) and `one-link` (its link, ll). */
export function linkedIngressYaml(o: LinkedIngress): string {
  const { host, port, secret } = o.exit;
  return [
    `listen: { host: 127.0.0.1, ports: [${o.port}, ${o.port}] }`,
    `workers: 1`,
    `targetPolicy: { allow: [127.0.0.0/8] }`,
    `log: { level: error, access: false }`,
    `users: [{ login: ${o.user}, passwordHash: '${o.passwordHash}' }]`,
    `links: { identityDir: '${o.link.ingressDir}' }`,
    `exits:`,
    `  - { id: one, kind: hopgate, host: ${host}, port: ${port}, username: ingress, password: ${secret}, country: aa }`,
    `  - { id: one-link, kind: hopgate, host: ${host}, port: ${port}, username: ingress, password: ${secret}, country: ll, link: { port: ${o.linkPort}, fingerprint: '${o.link.exitFp}' } }`,
    ...(o.moreExits ?? []).map((e) => `  - ${e}`),
  ].join('\n');
}

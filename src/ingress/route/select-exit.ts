/**
 * Which exit carries a connection, from precomputed indexes (no scans):
 * an exit pinned by egress IP, else the exits matching the username's place
 * tags, at random. Port schemes, sticky sessions and health arrive with the
 * routing milestone and plug in here.
 */
import { ProxyError } from '../../shared/errors.js';
import type { UsernameTags } from '../../protocol/username/grammar.js';
import type { ExitConfig } from '../../shared/schema/ingress-config.js';

export interface ExitIndex {
  readonly all: readonly ExitConfig[];
  readonly byEgressIp: ReadonlyMap<string, ExitConfig>;
  readonly byCountry: ReadonlyMap<string, readonly ExitConfig[]>;
}

export function buildExitIndex(exits: readonly ExitConfig[]): ExitIndex {
  const byEgressIp = new Map<string, ExitConfig>();
  const byCountry = new Map<string, ExitConfig[]>();
  const ids = new Set<string>();
  for (const e of exits) {
    if (ids.has(e.id)) throw new Error(`exits: id '${e.id}' appears twice`);
    ids.add(e.id);
    if (e.egressIp) byEgressIp.set(e.egressIp, e);
    if (e.country) byCountry.set(e.country, [...(byCountry.get(e.country) ?? []), e]);
  }
  return { all: exits, byEgressIp, byCountry };
}

export interface ExitChoice {
  readonly exit: ExitConfig;
  /** Pinned by the customer: never replaced by another exit. */
  readonly pinned: boolean;
}

/**
 * Undefined means "egress directly" (no exits configured). `usable` filters
 * random choices (health, exits already tried); if it leaves nothing, the
 * whole pool is used rather than refusing outright.
 */
export function selectExit(
  index: ExitIndex,
  tags: UsernameTags,
  usable: (e: ExitConfig) => boolean = () => true,
  random: () => number = Math.random,
): ExitChoice | undefined {
  if (index.all.length === 0) {
    if (tags.exitIp || tags.country) throw new ProxyError('NO_EXIT_MATCH', 'this ingress has no exits to choose from');
    return undefined;
  }
  if (tags.exitIp) {
    const e = index.byEgressIp.get(tags.exitIp);
    if (!e) throw new ProxyError('NO_EXIT_MATCH', `no exit with egress IP ${tags.exitIp}`);
    return { exit: e, pinned: true };
  }
  let pool: readonly ExitConfig[] = index.all;
  if (tags.country) {
    pool = index.byCountry.get(tags.country) ?? [];
    if (pool.length === 0) throw new ProxyError('NO_EXIT_MATCH', `no exit in country ${tags.country}`);
  }
  const up = pool.filter(usable); // pools are per place and small; the filter is over candidates, not all exits
  const from = up.length > 0 ? up : pool;
  return { exit: from[Math.floor(random() * from.length)]!, pinned: false };
}

/**
 * Who serves a port whose exit cannot (down, drained, below an asked quality):
 * the nearest other exit of the customer, rendezvous-hashed on (login, port) so
 * every ingress — and the control plane's port table — picks the same stand-in
 * (docs/ROUTING.md, "Failover behind a port"). Pure: exits and a key in, an exit out.
 */
import { combineFilters, placeKey, type Exit, type PlaceFilter } from '../exits/exit-index.js';
import { hashString, rendezvousScore } from '../exits/rendezvous.js';
import type { Candidates, CustomerRoute } from './customer-routes.js';

/**
 * Where a replacement is looked for, nearest first: the exit's own place (country, state,
 * city), then its country and state, then its country, then anywhere. Each within `wanted`,
 * so a replacement never contradicts the username's place tags.
 */
export function replacementTiers(e: Exit, wanted: PlaceFilter = {}): PlaceFilter[] {
  const p = e.place;
  const tiers: PlaceFilter[] = [];
  const seen = new Set<string>();
  for (const f of [{ country: p.country, state: p.state, city: p.city }, { country: p.country, state: p.state }, { country: p.country }, {}]) {
    const within = combineFilters(wanted, f);
    if (!within) continue;
    const key = placeKey(within);
    if (!seen.has(key)) tiers.push(within);
    seen.add(key);
  }
  return tiers;
}

/** The replacement for `e` behind one port (`key` names customer and port): deterministic, rendezvous-hashed within the nearest tier that has one. */
export function replacementFor(e: Exit, route: CustomerRoute, key: string, ok: (e: Exit) => boolean, wanted: PlaceFilter = {}): Exit | undefined {
  const h = hashString(key);
  for (const tier of replacementTiers(e, wanted)) {
    const stand = rendezvousBest(route.exits.candidates(tier), h, (c) => c !== e && ok(c));
    if (stand) return stand;
  }
  return undefined;
}

/** The key a port's replacement is hashed on: the same string on every ingress and in the control plane. */
export function replacementKey(login: string, portLabel: string): string {
  return `${login}\0${portLabel}`;
}

/** Rendezvous hashing: the candidate with the highest score for this key. */
export function rendezvousBest(candidates: Candidates, key: number, ok: (e: Exit) => boolean): Exit | undefined {
  let top: Exit | undefined;
  let topScore = -1;
  for (let i = 0; i < candidates.size; i++) {
    const c = candidates.at(i)!;
    const s = rendezvousScore(key, c.seed);
    if (s > topScore && ok(c)) {
      top = c;
      topScore = s;
    }
  }
  return top;
}

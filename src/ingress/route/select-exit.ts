/**
 * Which exit carries a connection (DESIGN.md, route selection precedence):
 *   1. an exit IP named in the username (pinned: never replaced),
 *   2. a port or index named in the username,
 *   3. the ingress port the connection arrived on (port schemes, port-map.ts),
 *   4. the customer's exits matching the place tags: sticky per session, else random.
 * An exit behind a port that is down is replaced by one from the same place,
 * chosen alike on every ingress; it comes back when healthy. Everything runs on
 * the snapshot's precomputed indexes: no scan over customers or all exits.
 */
import { ProxyError } from '../../shared/errors.js';
import type { UsernameTags } from '../../protocol/username/grammar.js';
import type { ExitConfig } from '../../shared/schema/ingress-config.js';
import type { Candidates, CustomerRoute } from './customer-routes.js';
import { combineFilters, describePlace, isEmptyFilter, matchesPlace, type Exit, type ExitIndex, type PlaceFilter } from '../../shared/exits/exit-index.js';
import { slotForPort, type PortSlot } from './port-map.js';
import { canServe, capableAnd, noneCapable, refuseUnlessCapable, type RouteNeed } from './capabilities.js';
import { hashString, rendezvousScore, sessionWindow } from '../../shared/exits/rendezvous.js';

export interface RouteRequest {
  readonly login: string;
  readonly tags: UsernameTags;
  /** The ingress port the client used (after any PROXY protocol header). */
  readonly port: number;
  readonly nowMs: number;
  readonly defaultSessionMinutes: number;
  /** What the chosen exit must be able to do (UDP, the target's family…): capabilities.ts. */
  readonly need?: RouteNeed | undefined;
}

export type ChoiceReason = 'exitip' | 'port' | 'index' | 'replacement' | 'sticky' | 'random';

export interface ExitChoice {
  readonly exit: ExitConfig;
  readonly ref: Exit;
  /** The customer named this exit exactly (exit IP, strict session): never replaced by another. */
  readonly pinned: boolean;
  readonly reason: ChoiceReason;
}

/** How many random draws to try before filtering the candidates for usable ones. */
const RANDOM_DRAWS = 4;

function noMatch(message: string): ProxyError {
  return new ProxyError('NO_EXIT_MATCH', message);
}

function placeOf(tags: UsernameTags): PlaceFilter {
  return { country: tags.country, state: tags.state, city: tags.city, asn: tags.asn };
}

function choice(ref: Exit, pinned: boolean, reason: ChoiceReason): ExitChoice {
  return { exit: ref.config, ref, pinned, reason };
}

/**
 * Undefined means "egress directly" (the ingress has no exits). `usable` says
 * which exits may be chosen now (healthy, not yet tried for this connection).
 */
export function selectExit(
  index: ExitIndex,
  route: CustomerRoute,
  req: RouteRequest,
  usable: (e: Exit) => boolean = () => true,
  random: () => number = Math.random,
): ExitChoice | undefined {
  usable = capableAnd(usable, req.need); // only exits that can serve this request are ever chosen
  const { tags } = req;
  const wanted = placeOf(tags);
  if (index.size === 0) {
    if (tags.exitIp || !isEmptyFilter(wanted)) throw noMatch('this ingress has no exits to choose from');
    return undefined;
  }
  const exits = route.exits;

  if (tags.exitIp) {
    const e = index.byEgressIp(tags.exitIp);
    if (!e || !exits.has(e)) throw noMatch(`no exit of yours has egress IP ${tags.exitIp}`);
    agrees(e, wanted, `exit ${e.id} (${tags.exitIp})`);
    refuseUnlessCapable(e, req.need, `exit ${tags.exitIp}`);
    return choice(e, true, 'exitip');
  }

  let slot: PortSlot;
  let portLabel: string;
  if (tags.index !== undefined) {
    portLabel = `index ${tags.index}`;
    if (tags.index === 0) slot = { kind: 'random' };
    else if (tags.index <= exits.size) slot = { kind: 'index', index: tags.index };
    else throw noMatch(`index ${tags.index}: you have ${exits.size} exit${exits.size === 1 ? '' : 's'}`);
  } else {
    const port = tags.port ?? req.port;
    if (tags.port !== undefined && route.portBase === undefined) throw noMatch('port routing is not configured on this ingress');
    portLabel = `port ${port}`;
    slot = slotForPort(route, port);
  }

  let filter: PlaceFilter = wanted;
  switch (slot.kind) {
    case 'none':
      throw noMatch(slot.reason);
    case 'index':
      return behindPort(exits.at(slot.index - 1)!, wanted, portLabel, route, req, usable, tags.index !== undefined ? 'index' : 'port');
    case 'place': {
      const combined = combineFilters(wanted, { country: slot.country });
      if (!combined) throw noMatch(`${portLabel} is country ${slot.country}, but the username asks for ${describePlace(wanted)}`);
      if (slot.index > 0) {
        const inPlace = exits.matching({ country: slot.country });
        const e = inPlace[slot.index - 1];
        if (!e) throw noMatch(`${portLabel}: you have ${inPlace.length} exit${inPlace.length === 1 ? '' : 's'} in ${slot.country}`);
        return behindPort(e, wanted, portLabel, route, req, usable, 'port');
      }
      filter = combined;
      break;
    }
    case 'random':
      break;
  }

  const candidates = exits.candidates(filter);
  if (candidates.size === 0) {
    throw noMatch(exits.size === 0 ? 'you have no exits' : `none of your ${exits.size} exits is in ${describePlace(filter)}`);
  }
  const incapable = noneCapable(candidates, req.need, describePlace(filter));
  if (incapable) throw incapable;
  if (tags.session !== undefined) return sticky(candidates, req, usable, filter);
  for (let i = 0; i < RANDOM_DRAWS; i++) {
    const e = candidates.at(Math.floor(random() * candidates.size))!;
    if (usable(e)) return choice(e, false, 'random');
  }
  const up: Exit[] = [];
  for (let i = 0; i < candidates.size; i++) if (usable(candidates.at(i)!)) up.push(candidates.at(i)!);
  if (up.length === 0) throw new ProxyError('EXIT_UNREACHABLE', `all ${candidates.size} of your exits in ${describePlace(filter)} are down or failed`);
  return choice(up[Math.floor(random() * up.length)]!, false, 'random');
}

/** A pinned exit must agree with the place the username asks for: no silent conflicts. */
function agrees(e: Exit, wanted: PlaceFilter, what: string): void {
  if (!matchesPlace(e, wanted)) throw noMatch(`${what} is in ${describePlace(e.place)}, not ${describePlace(wanted)}`);
}

/** The exit behind a port, or while it is down, a stand-in from its place (the same on every ingress). */
function behindPort(
  e: Exit,
  wanted: PlaceFilter,
  portLabel: string,
  route: CustomerRoute,
  req: RouteRequest,
  usable: (e: Exit) => boolean,
  reason: 'port' | 'index',
): ExitChoice {
  agrees(e, wanted, `${portLabel}'s exit ${e.id}`);
  refuseUnlessCapable(e, req.need, portLabel);
  if (usable(e)) return choice(e, false, reason);
  const stand = replacementFor(e, route, `${req.login}\0${portLabel}`, usable);
  if (!stand) throw new ProxyError('EXIT_UNREACHABLE', `exit ${e.id} behind ${portLabel} is down and none of your other exits in ${describePlace(samePlace(e))} is up`);
  return choice(stand, false, 'replacement');
}

/** "The same place" for a replacement: the exit's country, state and city (not its ASN). */
export function samePlace(e: Exit): PlaceFilter {
  return { country: e.place.country, state: e.place.state, city: e.place.city };
}

export function replacementFor(e: Exit, route: CustomerRoute, key: string, usable: (e: Exit) => boolean): Exit | undefined {
  return best(route.exits.candidates(samePlace(e)), hashString(key), (c) => c !== e && usable(c));
}

function sticky(candidates: Candidates, req: RouteRequest, usable: (e: Exit) => boolean, filter: PlaceFilter): ExitChoice {
  const { tags } = req;
  const sessionHash = hashString(`${req.login}\0${tags.session}`);
  const window = sessionWindow(sessionHash, tags.sessionMinutes ?? req.defaultSessionMinutes, req.nowMs);
  const key = hashString(String(window), sessionHash);
  if (tags.sessionMode === 'strict') {
    const top = best(candidates, key, (c) => canServe(c, req.need))!;
    if (!usable(top)) throw new ProxyError('EXIT_UNREACHABLE', `session ${tags.session}'s exit ${top.id} is down (sessmode strict)`);
    return choice(top, true, 'sticky');
  }
  const top = best(candidates, key, usable);
  if (!top) throw new ProxyError('EXIT_UNREACHABLE', `all ${candidates.size} of your exits in ${describePlace(filter)} are down or failed`);
  return choice(top, false, 'sticky');
}

/** Rendezvous hashing: the candidate with the highest score for this key. */
function best(candidates: Candidates, key: number, ok: (e: Exit) => boolean): Exit | undefined {
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

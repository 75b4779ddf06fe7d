/**
 * Which exit carries a connection (DESIGN.md, route selection precedence):
 *   1. an exit IP named in the username (pinned: never replaced),
 *   2. a port or index named in the username,
 *   3. the ingress port the connection arrived on (port schemes, port-map.ts),
 *   4. the customer's exits matching the place tags: sticky per session, else random.
 * With place tags, a numbered port (or index) counts within the matching exits.
 * An exit behind a port that is down, drained or below the asked quality is
 * replaced by the nearest other one (same place, same country, then any),
 * chosen alike on every ingress; it comes back when healthy. A port therefore
 * keeps its meaning while exits come and go (docs/ROUTING.md, stable ports).
 * Everything runs on the snapshot's precomputed indexes: no scan over
 * customers or all exits.
 */
import { ProxyError } from '../../shared/errors.js';
import type { UsernameTags } from '../../protocol/username/grammar.js';
import type { ExitConfig } from '../../shared/schema/ingress-config.js';
import type { Candidates, CustomerRoute } from '../../shared/routing/customer-routes.js';
import { combineFilters, describePlace, isEmptyFilter, matchesPlace, type Exit, type ExitIndex, type PlaceFilter } from '../../shared/exits/exit-index.js';
import { slotForPort, type PortSlot } from '../../shared/routing/port-map.js';
import { rendezvousBest as best, replacementFor, replacementKey } from '../../shared/routing/replacement.js';
import { canServe, capableAnd, noneCapable, refuseUnlessCapable, type RouteNeed } from './capabilities.js';
import { hashString, sessionWindow } from '../../shared/exits/rendezvous.js';

export interface RouteRequest {
  readonly login: string;
  readonly tags: UsernameTags;
  /** The ingress port the client used (after any PROXY protocol header). */
  readonly port: number;
  readonly nowMs: number;
  readonly defaultSessionMinutes: number;
  /** What the chosen exit must be able to do (UDP, the target's family…): capabilities.ts. */
  readonly need?: RouteNeed | undefined;
  /** Quality score (0-100) of an exit, undefined when unmeasured; needed by `quality-N`. */
  readonly qualityOf?: (e: Exit) => number | undefined;
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
    if (tags.exitIp || !isEmptyFilter(wanted) || tags.minQuality !== undefined) throw noMatch('this ingress has no exits to choose from');
    return undefined;
  }
  const exits = route.exits;
  const good = qualityGate(tags.minQuality, req.qualityOf);
  // Drained exits keep their ports (stable numbering) but are never chosen for a new connection.
  const ok = (e: Exit): boolean => !e.drained && good(e) && usable(e);

  if (tags.exitIp) {
    const e = index.byEgressIp(tags.exitIp);
    if (!e || !exits.has(e)) throw noMatch(`no exit of yours has egress IP ${tags.exitIp}`);
    agrees(e, wanted, `exit ${e.id} (${tags.exitIp})`);
    refuseUnlessCapable(e, req.need, `exit ${tags.exitIp}`);
    if (e.drained) throw new ProxyError('EXIT_UNREACHABLE', `exit ${e.id} (${tags.exitIp}) is drained: it takes no new connections`);
    if (!good(e)) throw noMatch(`exit ${e.id} (${tags.exitIp}) has quality ${scoreText(e, req)}, below the ${tags.minQuality} you ask for`);
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
  const reason = tags.index !== undefined ? 'index' : 'port';
  switch (slot.kind) {
    case 'none':
      throw noMatch(slot.reason);
    case 'index': {
      if (isEmptyFilter(wanted)) return behindPort(exits.at(slot.index - 1)!, wanted, portLabel, route, req, ok, reason);
      // With place tags a numbered port counts within the matching exits: `country-de` on base+1 is the first DE exit.
      return behindPort(nth(exits.matching(wanted), slot.index, portLabel, wanted), wanted, portLabel, route, req, ok, reason);
    }
    case 'place': {
      const combined = combineFilters(wanted, { country: slot.country });
      if (!combined) throw noMatch(`${portLabel} is country ${slot.country}, but the username asks for ${describePlace(wanted)}`);
      if (slot.index > 0) return behindPort(nth(exits.matching(combined), slot.index, portLabel, combined), wanted, portLabel, route, req, ok, 'port');
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
  if (tags.session !== undefined) return sticky(candidates, req, ok, good, filter);
  for (let i = 0; i < RANDOM_DRAWS; i++) {
    const e = candidates.at(Math.floor(random() * candidates.size))!;
    if (ok(e)) return choice(e, false, 'random');
  }
  const up: Exit[] = [];
  for (let i = 0; i < candidates.size; i++) if (ok(candidates.at(i)!)) up.push(candidates.at(i)!);
  if (up.length === 0) throw noneUsable(candidates, filter, req, good);
  return choice(up[Math.floor(random() * up.length)]!, false, 'random');
}

/** The i-th (1-based) of a filtered list, or a refusal saying how many there are. */
function nth(list: readonly Exit[], i: number, portLabel: string, f: PlaceFilter): Exit {
  const e = list[i - 1];
  if (!e) throw noMatch(`${portLabel}: you have ${list.length} exit${list.length === 1 ? '' : 's'} in ${describePlace(f)}`);
  return e;
}

/** `quality-N`: only exits measured at N or more; an unmeasured exit does not qualify. */
function qualityGate(min: number | undefined, qualityOf: ((e: Exit) => number | undefined) | undefined): (e: Exit) => boolean {
  if (min === undefined) return () => true;
  return (e) => (qualityOf?.(e) ?? -1) >= min;
}

function scoreText(e: Exit, req: RouteRequest): string {
  const q = req.qualityOf?.(e);
  return q === undefined ? 'unmeasured' : String(q);
}

/** Why no candidate could be chosen: all drained, none good enough, or all down. */
function noneUsable(candidates: Candidates, filter: PlaceFilter, req: RouteRequest, good: (e: Exit) => boolean): ProxyError {
  const all: Exit[] = [];
  for (let i = 0; i < candidates.size; i++) all.push(candidates.at(i)!);
  const live = all.filter((e) => !e.drained);
  const where = `${all.length} of your exits in ${describePlace(filter)}`;
  if (live.length === 0) return new ProxyError('EXIT_UNREACHABLE', `all ${where} are drained`);
  if (req.tags.minQuality !== undefined && !live.some(good)) {
    const scores = live.map((e) => `${e.id} ${scoreText(e, req)}`).slice(0, 8).join(', ');
    return noMatch(`none of your ${live.length} live exits in ${describePlace(filter)} has quality ${req.tags.minQuality} or more (${scores})`);
  }
  return new ProxyError('EXIT_UNREACHABLE', `all ${where} are down or failed`);
}

/** A pinned exit must agree with the place the username asks for: no silent conflicts. */
function agrees(e: Exit, wanted: PlaceFilter, what: string): void {
  if (!matchesPlace(e, wanted)) throw noMatch(`${what} is in ${describePlace(e.place)}, not ${describePlace(wanted)}`);
}

/**
 * The exit behind a port, or while it cannot serve (down, drained, below the asked quality)
 * a replacement (the same on every ingress): the port keeps its meaning, as in failover.
 */
function behindPort(
  e: Exit,
  wanted: PlaceFilter,
  portLabel: string,
  route: CustomerRoute,
  req: RouteRequest,
  ok: (e: Exit) => boolean,
  reason: 'port' | 'index',
): ExitChoice {
  agrees(e, wanted, `${portLabel}'s exit ${e.id}`);
  refuseUnlessCapable(e, req.need, portLabel);
  if (ok(e)) return choice(e, false, reason);
  const stand = replacementFor(e, route, replacementKey(req.login, portLabel), ok, wanted);
  if (!stand) {
    const q = req.tags.minQuality;
    const state = e.drained ? 'drained' : q !== undefined && !((req.qualityOf?.(e) ?? -1) >= q) ? `below quality ${q} (${scoreText(e, req)})` : 'down';
    throw new ProxyError('EXIT_UNREACHABLE', `exit ${e.id} behind ${portLabel} is ${state} and none of your other exits${isEmptyFilter(wanted) ? '' : ` in ${describePlace(wanted)}`} can take over`);
  }
  return choice(stand, false, 'replacement');
}

function sticky(candidates: Candidates, req: RouteRequest, ok: (e: Exit) => boolean, good: (e: Exit) => boolean, filter: PlaceFilter): ExitChoice {
  const { tags } = req;
  const sessionHash = hashString(`${req.login}\0${tags.session}`);
  const window = sessionWindow(sessionHash, tags.sessionMinutes ?? req.defaultSessionMinutes, req.nowMs);
  const key = hashString(String(window), sessionHash);
  if (tags.sessionMode === 'strict') {
    // Strict holds on to its exit while it is down, but not past a drain or a quality bar: those are lasting.
    const top = best(candidates, key, (e) => !e.drained && good(e) && canServe(e, req.need));
    if (!top) throw noneUsable(candidates, filter, req, good);
    if (!ok(top)) throw new ProxyError('EXIT_UNREACHABLE', `session ${tags.session}'s exit ${top.id} is down (sessmode strict)`);
    return choice(top, true, 'sticky');
  }
  const top = best(candidates, key, ok);
  if (!top) throw noneUsable(candidates, filter, req, good);
  return choice(top, false, 'sticky');
}

/**
 * All exits of a snapshot, numbered, with the lookups routing needs built
 * once: by id, by egress IP, and by place filter (cached per filter on first
 * use, so a filter costs one scan per snapshot, never one per connection).
 */
import type { ExitConfig } from '../schema/ingress-config.js';
import { hashString } from './rendezvous.js';

/** One value, or alternatives of which any matches (`country-us,de`). */
export type OneOf<T> = T | readonly T[];

/** Place tags as routing compares them: lower case, `_` for spaces. */
export interface PlaceFilter {
  readonly country?: OneOf<string> | undefined;
  readonly state?: OneOf<string> | undefined;
  readonly city?: OneOf<string> | undefined;
  readonly asn?: OneOf<number> | undefined;
}

/** An exit's own place: one value per key. */
export interface Place {
  readonly country?: string | undefined;
  readonly state?: string | undefined;
  readonly city?: string | undefined;
  readonly asn?: number | undefined;
}

const PLACE_KEYS = ['country', 'state', 'city', 'asn'] as const;

function accepts<T>(wanted: OneOf<T> | undefined, actual: T | undefined): boolean {
  if (wanted === undefined) return true;
  if (actual === undefined) return false;
  return typeof wanted === 'object' ? (wanted as readonly T[]).includes(actual) : wanted === actual;
}

function listOf<T>(v: OneOf<T>): readonly T[] {
  return typeof v === 'object' ? (v as readonly T[]) : [v];
}

export interface Exit {
  readonly ord: number;
  readonly id: string;
  readonly config: ExitConfig;
  /** Rendezvous seed, from the id: the same on every ingress. */
  readonly seed: number;
  readonly place: Place;
  /** Drained: takes no new connections; behind a port it is replaced, as a dead exit is. */
  readonly drained: boolean;
}

export function normalizePlace(text: string | undefined): string | undefined {
  return text === undefined ? undefined : text.trim().toLowerCase().replace(/\s+/g, '_');
}

export function placeKey(f: PlaceFilter): string {
  return PLACE_KEYS.map((k) => (f[k] === undefined ? '' : listOf<string | number>(f[k]).join(','))).join('/');
}

export function isEmptyFilter(f: PlaceFilter): boolean {
  return f.country === undefined && f.state === undefined && f.city === undefined && f.asn === undefined;
}

export function matchesPlace(e: Exit, f: PlaceFilter): boolean {
  return accepts(f.country, e.place.country) && accepts(f.state, e.place.state) && accepts(f.city, e.place.city) && accepts(f.asn, e.place.asn);
}

/** Both filters at once (alternatives intersected), or undefined when they contradict each other. */
export function combineFilters(a: PlaceFilter, b: PlaceFilter): PlaceFilter | undefined {
  const out: Record<string, unknown> = { ...a };
  for (const k of PLACE_KEYS) {
    const v = b[k];
    if (v === undefined) continue;
    const mine = a[k];
    if (mine === undefined) {
      out[k] = v;
      continue;
    }
    const theirs = listOf<string | number>(v);
    const both = listOf<string | number>(mine).filter((x) => theirs.includes(x));
    if (both.length === 0) return undefined;
    out[k] = both.length === 1 ? both[0] : both;
  }
  return out;
}

export function describePlace(f: PlaceFilter): string {
  const text = (v: OneOf<string | number>, prefix = ''): string => listOf(v).map((x) => `${prefix}${x}`).join(' or ');
  const parts = [
    f.city !== undefined && `city ${text(f.city)}`,
    f.state !== undefined && `state ${text(f.state)}`,
    f.country !== undefined && `country ${text(f.country)}`,
    f.asn !== undefined && text(f.asn, 'AS'),
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'any place';
}

const MAX_CACHED_FILTERS = 4096;

export class ExitIndex {
  readonly all: readonly Exit[];
  readonly configs: readonly ExitConfig[];
  private readonly byId = new Map<string, Exit>();
  private readonly byEgress = new Map<string, Exit>();
  private readonly sharedEgress = new Set<string>();
  private readonly drainedByEgress = new Map<string, Exit>();
  private readonly filtered = new Map<string, readonly Exit[]>();

  constructor(exits: readonly ExitConfig[]) {
    this.configs = exits;
    this.all = exits.map((config, ord) => {
      if (this.byId.has(config.id)) throw new Error(`exits: id '${config.id}' appears twice`);
      const e: Exit = Object.freeze({
        ord,
        id: config.id,
        config,
        seed: hashString(config.id),
        place: Object.freeze({ country: config.country, state: normalizePlace(config.state), city: normalizePlace(config.city), asn: config.asn }),
        drained: config.drain === true,
      });
      this.byId.set(e.id, e);
      // A drained exit keeps its place in customers' lists but not its address: the control plane
      // lets a new exit take over a drained exit's egress IP.
      if (e.drained) {
        if (config.egressIp && !this.drainedByEgress.has(config.egressIp)) this.drainedByEgress.set(config.egressIp, e);
      } else if (config.egressIp) {
        if (this.byEgress.has(config.egressIp)) throw new Error(`exits: egressIp ${config.egressIp} appears twice ('${this.byEgress.get(config.egressIp)!.id}', '${e.id}')`);
        this.byEgress.set(config.egressIp, e);
      }
      // IPv6 egress may be shared (several exits behind one host, the demo's ::1): only an unshared one can be pinned.
      const v6 = config.egressIp6;
      if (v6 !== undefined && v6 !== config.egressIp && !e.drained) {
        if (this.byEgress.has(v6) || this.sharedEgress.has(v6)) {
          this.byEgress.delete(v6);
          this.sharedEgress.add(v6);
        } else this.byEgress.set(v6, e);
      }
      return e;
    });
  }

  get size(): number {
    return this.all.length;
  }

  byIdOf(id: string): Exit | undefined {
    return this.byId.get(id);
  }

  /** The exit with this egress IP; a drained one only when no live exit has it (for a precise refusal). */
  byEgressIp(ip: string): Exit | undefined {
    return this.byEgress.get(ip) ?? this.drainedByEgress.get(ip);
  }

  /** Exits matching a place filter, in configuration order; computed once per filter. */
  matching(f: PlaceFilter): readonly Exit[] {
    if (isEmptyFilter(f)) return this.all;
    const key = placeKey(f);
    let hit = this.filtered.get(key);
    if (hit === undefined) {
      hit = Object.freeze(this.all.filter((e) => matchesPlace(e, f)));
      if (this.filtered.size < MAX_CACHED_FILTERS) this.filtered.set(key, hit);
    }
    return hit;
  }
}

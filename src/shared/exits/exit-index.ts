/**
 * All exits of a snapshot, numbered, with the lookups routing needs built
 * once: by id, by egress IP, and by place filter (cached per filter on first
 * use, so a filter costs one scan per snapshot, never one per connection).
 */
import type { ExitConfig } from '../schema/ingress-config.js';
import { hashString } from './rendezvous.js';

/** Place tags as routing compares them: lower case, `_` for spaces. */
export interface PlaceFilter {
  readonly country?: string | undefined;
  readonly state?: string | undefined;
  readonly city?: string | undefined;
  readonly asn?: number | undefined;
}

export interface Exit {
  readonly ord: number;
  readonly id: string;
  readonly config: ExitConfig;
  /** Rendezvous seed, from the id: the same on every ingress. */
  readonly seed: number;
  readonly place: PlaceFilter;
}

export function normalizePlace(text: string | undefined): string | undefined {
  return text === undefined ? undefined : text.trim().toLowerCase().replace(/\s+/g, '_');
}

export function placeKey(f: PlaceFilter): string {
  return `${f.country ?? ''}/${f.state ?? ''}/${f.city ?? ''}/${f.asn ?? ''}`;
}

export function isEmptyFilter(f: PlaceFilter): boolean {
  return f.country === undefined && f.state === undefined && f.city === undefined && f.asn === undefined;
}

export function matchesPlace(e: Exit, f: PlaceFilter): boolean {
  return (
    (f.country === undefined || e.place.country === f.country) &&
    (f.state === undefined || e.place.state === f.state) &&
    (f.city === undefined || e.place.city === f.city) &&
    (f.asn === undefined || e.place.asn === f.asn)
  );
}

/** Both filters at once, or undefined when they contradict each other. */
export function combineFilters(a: PlaceFilter, b: PlaceFilter): PlaceFilter | undefined {
  const out: { -readonly [K in keyof PlaceFilter]: PlaceFilter[K] } = { ...a };
  for (const k of ['country', 'state', 'city', 'asn'] as const) {
    const v = b[k];
    if (v === undefined) continue;
    if (out[k] !== undefined && out[k] !== v) return undefined;
    (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

export function describePlace(f: PlaceFilter): string {
  const parts = [f.city && `city ${f.city}`, f.state && `state ${f.state}`, f.country && `country ${f.country}`, f.asn && `AS${f.asn}`].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'any place';
}

const MAX_CACHED_FILTERS = 4096;

export class ExitIndex {
  readonly all: readonly Exit[];
  readonly configs: readonly ExitConfig[];
  private readonly byId = new Map<string, Exit>();
  private readonly byEgress = new Map<string, Exit>();
  private readonly sharedEgress = new Set<string>();
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
      });
      this.byId.set(e.id, e);
      if (config.egressIp) {
        if (this.byEgress.has(config.egressIp)) throw new Error(`exits: egressIp ${config.egressIp} appears twice ('${this.byEgress.get(config.egressIp)!.id}', '${e.id}')`);
        this.byEgress.set(config.egressIp, e);
      }
      // IPv6 egress may be shared (several exits behind one host, the demo's ::1): only an unshared one can be pinned.
      const v6 = config.egressIp6;
      if (v6 !== undefined && v6 !== config.egressIp) {
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

  byEgressIp(ip: string): Exit | undefined {
    return this.byEgress.get(ip);
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

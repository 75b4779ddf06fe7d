/**
 * A customer's exits, compiled once per snapshot: the ordered list that port
 * numbers index, a sorted copy for membership tests, the place slots of the
 * place port scheme, and per-filter candidate lists cached on first use.
 * Customers with the same exits and pools share one ExitSet, so 100,000
 * customers on a few pools cost little more than the pools.
 */
import type { IngressConfig, UserConfig } from '../schema/ingress-config.js';
import { isEmptyFilter, matchesPlace, normalizePlace, placeKey, type Exit, type ExitIndex, type PlaceFilter } from '../exits/exit-index.js';

const MAX_CACHED_FILTERS_PER_SET = 32;
/** Sets up to this size are filtered on the fly; larger ones cache per filter. */
const SMALL_SET = 64;

/** A read-only run of candidate exits: a whole ExitSet, or a filtered list. */
export interface Candidates {
  readonly size: number;
  at(i: number): Exit | undefined;
}

class ListCandidates implements Candidates {
  constructor(private readonly list: readonly Exit[]) {}
  get size(): number {
    return this.list.length;
  }
  at(i: number): Exit | undefined {
    return this.list[i];
  }
}

export class ExitSet implements Candidates {
  /** Ordinals in the customer's order (port base+1 is ords[0]). */
  private readonly ords: Int32Array | undefined;
  private readonly sorted: Int32Array | undefined;
  private cache: Map<string, readonly Exit[]> | undefined;
  private countriesCache: readonly string[] | undefined;

  /** `ords` undefined: every exit of the index. */
  constructor(
    private readonly index: ExitIndex,
    ords: Int32Array | undefined,
  ) {
    this.ords = ords;
    this.sorted = ords ? Int32Array.from(ords).sort() : undefined;
  }

  /** Countries of the set's exits in first-appearance order (default place slots); computed on first use. */
  get countries(): readonly string[] {
    if (this.countriesCache) return this.countriesCache;
    const seen = new Set<string>();
    for (let i = 0; i < this.size; i++) {
      const c = this.at(i)!.place.country;
      if (c !== undefined) seen.add(c);
    }
    this.countriesCache = [...seen];
    return this.countriesCache;
  }

  /** Duplicates sit side by side in the sorted copy. */
  hasDuplicates(): boolean {
    const s = this.sorted;
    if (!s) return false;
    for (let i = 1; i < s.length; i++) if (s[i] === s[i - 1]) return true;
    return false;
  }

  get size(): number {
    return this.ords ? this.ords.length : this.index.size;
  }

  /** The i-th exit (0-based) of the ordered list. */
  at(i: number): Exit | undefined {
    if (i < 0 || i >= this.size) return undefined;
    return this.index.all[this.ords ? this.ords[i]! : i];
  }

  has(e: Exit): boolean {
    if (!this.sorted) return this.index.all[e.ord] === e;
    let lo = 0;
    let hi = this.sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.sorted[mid]!;
      if (v === e.ord) return true;
      if (v < e.ord) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** The set's exits matching a place filter, in order; cached per filter. */
  matching(f: PlaceFilter): readonly Exit[] {
    if (!this.ords) return this.index.matching(f);
    const key = placeKey(f);
    const hit = this.cache?.get(key);
    if (hit) return hit;
    const out: Exit[] = [];
    for (let i = 0; i < this.ords.length; i++) {
      const e = this.index.all[this.ords[i]!]!;
      if (isEmptyFilter(f) || matchesPlace(e, f)) out.push(e);
    }
    this.cache ??= new Map();
    if (this.cache.size < MAX_CACHED_FILTERS_PER_SET) this.cache.set(key, out);
    return out;
  }

  /** Candidates for a filter without copying: the set itself when nothing is filtered. */
  candidates(f: PlaceFilter): Candidates {
    if (isEmptyFilter(f)) return this;
    if (this.ords && this.ords.length <= SMALL_SET) {
      // A scan of a few dozen exits is cheaper than building a cache key, and keeps no state.
      const out: Exit[] = [];
      for (let i = 0; i < this.ords.length; i++) {
        const e = this.index.all[this.ords[i]!]!;
        if (matchesPlace(e, f)) out.push(e);
      }
      return new ListCandidates(out);
    }
    return new ListCandidates(this.matching(f));
  }

  /** Position (0-based) of an exit among those matching `f`, for port tables. */
  positionIn(f: PlaceFilter, e: Exit): number {
    return this.matching(f).indexOf(e);
  }
}

export interface CustomerRoute {
  readonly exits: ExitSet;
  /** undefined: port routing is off (every port is "random"). */
  readonly portBase: number | undefined;
  readonly scheme: 'sequential' | 'place';
  readonly stride: number;
  /** Place scheme: country of slot k is places[k-1]. */
  readonly places: readonly string[];
}

/** Builds CustomerRoutes for one snapshot, sharing ExitSets between customers with the same exits and pools. */
export class RouteCompiler {
  private readonly sets = new Map<string, ExitSet>();
  private readonly everything: ExitSet;

  constructor(
    private readonly index: ExitIndex,
    private readonly config: IngressConfig,
  ) {
    this.everything = new ExitSet(index, undefined);
  }

  compile(user: UserConfig): CustomerRoute {
    const r = this.config.routing;
    const exits = this.exitSet(user);
    const base = user.portBase ?? r.portBase ?? (this.config.listen.ports[0] === 0 ? undefined : this.config.listen.ports[0]);
    const scheme = user.portScheme ?? r.scheme;
    // Place slots matter only to the place scheme; default them lazily from the exits.
    const places = user.places ?? (scheme === 'place' ? exits.countries : []);
    return Object.freeze({ exits, portBase: base, scheme, stride: r.placeStride, places });
  }

  private exitSet(user: UserConfig): ExitSet {
    if (user.exits.length === 0 && user.pools.length === 0) return this.everything;
    const key = `${user.exits.join(',')}|${user.pools.map((p) => placeKey({ ...p, state: normalizePlace(p.state), city: normalizePlace(p.city) })).join(',')}`;
    let set = this.sets.get(key);
    if (set) return set;
    const ords = new Int32Array(user.exits.length);
    user.exits.forEach((id, i) => {
      const e = this.index.byIdOf(id);
      if (!e) throw new Error(`users: '${user.login}' lists exit '${id}', which is not configured`);
      ords[i] = e.ord;
    });
    let list = ords;
    if (user.pools.length > 0) {
      const taken = new Set(ords);
      const more: number[] = [];
      for (const pool of user.pools) {
        const f = { ...pool, state: normalizePlace(pool.state), city: normalizePlace(pool.city) };
        for (const e of this.index.matching(f)) {
          if (!taken.has(e.ord)) {
            taken.add(e.ord);
            more.push(e.ord);
          }
        }
      }
      list = new Int32Array(ords.length + more.length);
      list.set(ords);
      list.set(more, ords.length);
    }
    set = new ExitSet(this.index, list);
    if (set.hasDuplicates()) throw new Error(`users: '${user.login}' lists an exit twice`);
    this.sets.set(key, set);
    return set;
  }
}

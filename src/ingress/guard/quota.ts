/**
 * Per-customer data quota: bytes relayed (both directions, TCP and UDP
 * payload) per calendar period in UTC.
 *
 * - Counting is one add and one compare per relayed chunk (QuotaUsage.add).
 * - A new connection of a user at or over the quota is refused (QUOTA_EXCEEDED).
 * - Open connections are cut the moment usage crosses the quota (the chunk that
 *   crosses is not forwarded).
 * - A new period starts from zero; a reload that raises the quota restores
 *   service at once; a reload that lowers it below usage cuts at once.
 * - Several worker processes: each sends its usage deltas to the primary every
 *   SYNC_INTERVAL_MS; the primary sends each worker what the others used
 *   (QuotaAggregator). Overshoot is bounded by what the user can move in about
 *   two intervals across the other workers (docs/CONFIGURATION.md).
 * - Usage lives in memory: an ingress restart forgets it (until the control plane keeps it).
 */
import { ProxyError } from '../../shared/errors.js';
import type { CompiledUser, Snapshot } from '../config/snapshot.js';
import { periodEnd, periodKey, type QuotaPeriod } from '../../shared/quota-period.js';

/** How often usage deltas go to the primary, and totals come back. */
export const SYNC_INTERVAL_MS = 500;

function controlPlaneMessage(until: number): string {
  return `data quota for the period used (across all ingresses); resets at ${new Date(until).toISOString()}`;
}

/** One user's usage in the current period, in this process. */
export class QuotaUsage {
  /** Bytes counted in this process this period. */
  local = 0;
  /** Bytes other worker processes counted this period (from the primary). */
  others = 0;
  /** Local bytes not yet reported to the primary. */
  unsent = 0;
  /** Latched once over, so the cut happens once; cleared by a new period or a higher quota. */
  over = false;
  key = '';
  resetAt = 0;

  constructor(
    readonly login: string,
    public limit: number,
    public period: QuotaPeriod,
    private readonly onCross: (u: QuotaUsage) => void,
  ) {}

  get used(): number {
    return this.local + this.others;
  }

  /** The byte path: count relayed bytes. */
  add(n: number): void {
    this.local += n;
    this.unsent += n;
    if (this.local + this.others >= this.limit && !this.over) {
      this.over = true;
      this.onCross(this);
    }
  }

  /** Re-evaluate after the limit or the others' count changed. */
  recheck(): void {
    if (this.used >= this.limit) {
      if (!this.over) {
        this.over = true;
        this.onCross(this);
      }
    } else {
      this.over = false;
    }
  }

  message(): string {
    return `quota of ${this.limit} bytes per ${this.period} used; resets at ${new Date(this.resetAt).toISOString()}`;
  }
}

/** Worker → primary: usage deltas since the last report. */
export interface QuotaUsageMsg {
  type: 'hopgate:quota:usage';
  /** [login, period key, period end (ms), bytes] */
  usage: Array<[string, string, number, number]>;
}

/** Primary → worker: bytes the *other* workers used. */
export interface QuotaTotalsMsg {
  type: 'hopgate:quota:others';
  /** [login, period key, bytes used by the other workers] */
  others: Array<[string, string, number]>;
}

/** How a worker talks to the primary (node:cluster IPC in production, in-memory in tests). */
export interface QuotaSync {
  send(msg: QuotaUsageMsg): void;
  onMessage(handler: (msg: QuotaTotalsMsg) => void): () => void;
}

export interface QuotaStats {
  /** Connections cut because usage crossed the quota. */
  sessionsCut: number;
  /** Times a user crossed the quota. */
  crossings: number;
}

/** All users' usage in this process. */
export class QuotaTracker {
  private readonly usage = new Map<string, QuotaUsage>();
  private timer: NodeJS.Timeout | undefined;
  private sync: QuotaSync | undefined;
  private stopSync: (() => void) | undefined;
  readonly stats: QuotaStats = { sessionsCut: 0, crossings: 0 };

  /**
   * @param onOver called when a user's usage reaches the quota: cut their connections, return how many.
   * @param now wall clock (ms since epoch); injected in tests.
   */
  constructor(
    private readonly onOver: (login: string, message: string) => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Follow a (new) snapshot's quotas. Users who lose their quota keep an inert entry (live sessions may hold it). */
  configure(snap: Snapshot): void {
    const now = this.now();
    for (const user of snap.usersByLogin.values()) {
      if (user.quota) this.entry(user);
      // The control plane found the quota used across all ingresses: open connections end too.
      if (user.quotaExceededUntil !== undefined && user.quotaExceededUntil > now) {
        this.stats.sessionsCut += this.onOver(user.login, controlPlaneMessage(user.quotaExceededUntil));
      }
    }
    for (const [login, u] of this.usage) {
      const q = snap.usersByLogin.get(login)?.quota;
      if (!q) {
        u.limit = Infinity;
        u.over = false;
        continue;
      }
      if (q.period !== u.period) {
        // A different period starts counting afresh.
        u.period = q.period;
        this.rollover(u, this.now(), true);
      }
      u.limit = q.bytes;
      u.recheck();
    }
    this.ensureTimer();
  }

  /** The user's usage record (for counting on the byte path), or undefined without a quota. */
  usageFor(user: CompiledUser): QuotaUsage | undefined {
    return user.quota ? this.entry(user) : undefined;
  }

  /** At authorize: the refusal for a user at or over the quota, else undefined. */
  refusal(user: CompiledUser): ProxyError | undefined {
    if (user.quotaExceededUntil !== undefined && user.quotaExceededUntil > this.now()) {
      return new ProxyError('QUOTA_EXCEEDED', controlPlaneMessage(user.quotaExceededUntil));
    }
    if (!user.quota) return undefined;
    const u = this.entry(user);
    this.rollover(u, this.now());
    if (u.used < u.limit) return undefined;
    return new ProxyError('QUOTA_EXCEEDED', u.message());
  }

  get(login: string): QuotaUsage | undefined {
    return this.usage.get(login);
  }

  /** Worker mode: report usage to the primary and take the others' usage from it. */
  attach(sync: QuotaSync): void {
    this.stopSync?.();
    this.sync = sync;
    this.stopSync = sync.onMessage((m) => this.applyOthers(m));
    this.ensureTimer();
  }

  /** Period rollover, and in worker mode the usage report. Runs every SYNC_INTERVAL_MS. */
  tick(): void {
    const now = this.now();
    const report: QuotaUsageMsg['usage'] = [];
    for (const u of this.usage.values()) {
      this.rollover(u, now);
      if (u.unsent > 0 && this.sync) report.push([u.login, u.key, u.resetAt, u.unsent]);
      u.unsent = 0;
    }
    if (report.length > 0) this.sync?.send({ type: 'hopgate:quota:usage', usage: report });
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.stopSync?.();
    this.stopSync = undefined;
    this.sync = undefined;
  }

  private applyOthers(m: QuotaTotalsMsg): void {
    if (m?.type !== 'hopgate:quota:others') return;
    for (const [login, key, bytes] of m.others) {
      const u = this.usage.get(login);
      if (!u) continue;
      this.rollover(u, this.now());
      if (u.key !== key) continue; // another period's figure
      u.others = bytes;
      u.recheck();
    }
  }

  private entry(user: CompiledUser): QuotaUsage {
    let u = this.usage.get(user.login);
    if (!u) {
      u = new QuotaUsage(user.login, user.quota!.bytes, user.quota!.period, (x) => this.crossed(x));
      this.rollover(u, this.now(), true);
      this.usage.set(user.login, u);
    }
    return u;
  }

  private rollover(u: QuotaUsage, now: number, force = false): void {
    if (!force && now < u.resetAt) return;
    u.key = periodKey(u.period, now);
    u.resetAt = periodEnd(u.period, now);
    u.local = 0;
    u.others = 0;
    u.unsent = 0;
    u.over = false;
  }

  private crossed(u: QuotaUsage): void {
    this.stats.crossings++;
    this.stats.sessionsCut += this.onOver(u.login, u.message());
  }

  private ensureTimer(): void {
    if (this.timer || (this.usage.size === 0 && !this.sync)) return;
    this.timer = setInterval(() => this.tick(), SYNC_INTERVAL_MS);
    this.timer.unref();
  }
}

/**
 * The primary's side: usage per user per period per worker, and for each
 * worker the sum of the others. Records of ended periods are dropped.
 */
export class QuotaAggregator {
  private readonly records = new Map<string, { login: string; key: string; end: number; byWorker: Map<number, number> }>();
  private readonly dirty = new Set<string>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A worker's report. */
  add(worker: number, msg: QuotaUsageMsg): void {
    if (msg?.type !== 'hopgate:quota:usage' || !Array.isArray(msg.usage)) return;
    for (const [login, key, end, bytes] of msg.usage) {
      if (typeof login !== 'string' || typeof key !== 'string' || !(bytes > 0)) continue;
      const id = `${login}\0${key}`;
      let r = this.records.get(id);
      if (!r) {
        r = { login, key, end, byWorker: new Map() };
        this.records.set(id, r);
      }
      r.byWorker.set(worker, (r.byWorker.get(worker) ?? 0) + bytes);
      this.dirty.add(id);
    }
  }

  /**
   * What each worker should hear: the records changed since the last call (all of them
   * for a worker in `fresh`, e.g. just started), as the others' sum for that worker.
   */
  flush(workers: readonly number[], fresh: ReadonlySet<number> = new Set()): Map<number, QuotaTotalsMsg> {
    const now = this.now();
    for (const [id, r] of this.records) {
      if (r.end <= now) {
        this.records.delete(id);
        this.dirty.delete(id);
      }
    }
    const out = new Map<number, QuotaTotalsMsg>();
    for (const w of workers) {
      const ids = fresh.has(w) ? this.records.keys() : this.dirty.values();
      const others: QuotaTotalsMsg['others'] = [];
      for (const id of ids) {
        const r = this.records.get(id);
        if (!r) continue;
        let sum = 0;
        for (const [k, v] of r.byWorker) if (k !== w) sum += v;
        others.push([r.login, r.key, sum]);
      }
      if (others.length > 0) out.set(w, { type: 'hopgate:quota:others', others });
    }
    this.dirty.clear();
    return out;
  }
}

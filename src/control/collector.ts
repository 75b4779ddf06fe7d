/**
 * Statistics and quotas. Every `intervalMs` this control-plane process pulls
 * each ingress subscribed to it (it holds their pull tokens and admin
 * addresses), stores the records exactly once (ControlStore.ingestStats), then
 * compares each customer's usage in the current quota period, across all
 * ingresses, with the quota: crossing it sets the customer's over-quota flag —
 * a configuration change every ingress receives through the stream — and
 * falling back under it (a raised quota, a new period) clears it.
 */
import { z } from 'zod';
import type { Logger } from '../shared/log.js';
import type { StatsPull } from '../shared/control-protocol.js';
import { periodEnd } from '../shared/quota-period.js';
import type { ControlMetrics } from './metrics.js';
import type { ControlStore } from './store/index.js';
import type { ConfigHub, Subscriber } from './stream.js';

export interface CollectorOptions {
  /** Pull and quota check period (default 5 s). */
  readonly intervalMs?: number;
  readonly fetchTimeoutMs?: number;
  /** Records per pull request (the ingress pages beyond it). */
  readonly pageSize?: number;
  readonly log?: Logger;
  readonly metrics?: ControlMetrics;
  /** Wall clock; tests move it. */
  readonly now?: () => number;
  /** Exit health history older than this many days is pruned (default 30). */
  readonly healthHistoryDays?: number;
}

/** Health history is pruned at most this often. */
const PRUNE_EVERY_MS = 10 * 60_000;

export interface PullResult {
  readonly node: string;
  readonly ok: boolean;
  readonly stored: number;
  readonly skipped: number;
  readonly bytes: number;
  readonly ms: number;
  readonly error?: string;
}

/** What the collector reads of a pull beyond the records: the node's exit health, validated (an ingress is not trusted blindly). */
const ExitId = z.string().min(1).max(128);
const ExitsDownReport = z.array(ExitId).max(100_000).optional();
const Count = z.number().int().min(0).max(1_000_000);
/** The probes per exit (probe-log.ts): two minutes each, bounded counts, a code-shaped error. Exits and minutes the control plane does not know are dropped by the store. */
const ExitProbesReport = z
  .array(
    z
      .object({
        id: ExitId,
        minutes: z.array(z.object({ minute: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/), ok: Count, failed: Count, latencyMsSum: z.number().min(0).max(1e12) }).strict()).max(2),
        last: z.object({ at: z.iso.datetime(), ok: z.boolean(), latencyMs: z.number().min(0).max(1e9).nullable(), error: z.string().regex(/^[A-Z][A-Z0-9_]{0,39}$/).nullable() }).strict().nullable(),
      })
      .strict(),
  )
  .max(100_000)
  .optional();

export class StatsCollector {
  /** The down set the last failover check ran on ('' = none yet): a check runs when it changes. */
  private lastDown: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly now: () => number;
  private lastPrune = 0;
  /** Tests: fail the next N pulls after fetching (as if the write failed). */
  failNextWrites = 0;
  lastPulls: PullResult[] = [];

  constructor(
    private readonly store: ControlStore,
    private readonly hub: ConfigHub,
    private readonly o: CollectorOptions = {},
  ) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    const every = this.o.intervalMs ?? 5000;
    // round() logs its own failures; this catch owns whatever escapes that (a timer callback must not reject).
    this.timer = setInterval(() => void this.round().catch((err: unknown) => this.o.log?.error({ err: String(err) }, 'statistics round failed')), every);
    this.timer.unref();
  }

  /** One round: pull every subscribed ingress, then check quotas. Rounds never overlap. */
  round(): Promise<void> {
    this.running ??= (async () => {
      try {
        const seen = new Set<string>();
        const subs: Subscriber[] = [];
        for (const s of this.hub.subscribers) {
          if (s.adminUrl === undefined || seen.has(s.nodeId)) continue;
          seen.add(s.nodeId);
          subs.push(s);
        }
        this.lastPulls = await Promise.all(subs.map((s) => this.pull(s)));
        await this.enforceQuotas();
        await this.checkFailovers();
        await this.pruneHealthHistory();
      } catch (err) {
        this.o.log?.error({ err: (err as Error).message }, 'statistics round failed');
      }
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Pull one ingress until it has nothing more, storing each page before asking for the next. */
  async pull(sub: Subscriber): Promise<PullResult> {
    const started = performance.now();
    let stored = 0;
    let skipped = 0;
    let bytes = 0;
    const m = this.o.metrics;
    try {
      for (let page = 0; page < 100; page++) {
        const cursor = await this.store.statsCursor(sub.nodeId);
        const url = new URL('/v1/stats', sub.adminUrl);
        if (cursor) url.searchParams.set('after', cursor);
        url.searchParams.set('limit', String(this.o.pageSize ?? 20_000));
        let res: Response;
        try {
          res = await fetch(url, { headers: { authorization: `Bearer ${sub.pullToken}` }, signal: AbortSignal.timeout(this.o.fetchTimeoutMs ?? 10_000) });
        } catch (err) {
          m?.pullFailures.inc({ stage: 'fetch' });
          throw err;
        }
        const text = await res.text();
        bytes += Buffer.byteLength(text);
        if (!res.ok) {
          m?.pullFailures.inc({ stage: 'status' });
          throw new Error(`${url.origin} answered ${res.status}: ${text.slice(0, 200)}`);
        }
        const pull = JSON.parse(text) as StatsPull;
        const down = ExitsDownReport.safeParse(pull.exitsDown);
        if (!down.success) {
          m?.pullFailures.inc({ stage: 'status' });
          throw new Error(`${url.origin} sent a malformed exitsDown: ${down.error.issues[0]?.message ?? 'invalid'}`);
        }
        const probes = ExitProbesReport.safeParse(pull.exitProbes);
        if (!probes.success) {
          m?.pullFailures.inc({ stage: 'status' });
          const issue = probes.error.issues[0];
          throw new Error(`${url.origin} sent a malformed exitProbes: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`);
        }
        if (this.failNextWrites > 0) {
          this.failNextWrites--;
          m?.pullFailures.inc({ stage: 'write' });
          throw new Error('write failed (test)');
        }
        let r: { stored: number; skipped: number };
        try {
          r = await this.store.ingestStats(sub.nodeId, pull, new Date(this.now()).toISOString());
        } catch (err) {
          m?.pullFailures.inc({ stage: 'write' });
          throw err;
        }
        stored += r.stored;
        skipped += r.skipped;
        if (down.data !== undefined && page === 0) await this.store.recordExitHealth(sub.nodeId, down.data, new Date().toISOString(), probes.data); // wall clock: freshness is judged on it
        if (!pull.more) break;
      }
      m?.records.inc({ outcome: 'stored' }, stored);
      m?.records.inc({ outcome: 'skipped' }, skipped);
      const ms = performance.now() - started;
      m?.pullSeconds.observe(ms / 1000);
      return { node: sub.nodeId, ok: true, stored, skipped, bytes, ms };
    } catch (err) {
      const msg = (err as Error).message;
      this.o.log?.warn({ node: sub.nodeId, err: msg }, 'statistics pull failed; the ingress keeps its records for the next one');
      return { node: sub.nodeId, ok: false, stored, skipped, bytes, ms: performance.now() - started, error: msg };
    }
  }

  /** Set or clear over-quota flags from the usage across all ingresses. */
  async enforceQuotas(): Promise<number> {
    const now = this.now();
    const status = await this.store.quotaStatus(now);
    const flags: Array<{ id: string; until: string | null }> = [];
    let over = 0;
    for (const c of status) {
      const until = c.used >= c.bytes ? new Date(periodEnd(c.period, now)).toISOString() : null;
      if (until !== null) over++;
      if (until !== c.exceededUntil) flags.push({ id: c.id, until });
    }
    this.o.metrics?.quotaExceeded.set(over);
    // quota.warning / quota.exceeded events, once per crossing (store/quotas.ts).
    await this.store.recordQuotaCrossings(status, now);
    const changed = await this.store.setQuotaFlags(flags);
    if (changed > 0) {
      this.o.metrics?.quotaChanges.inc(changed);
      this.o.log?.info({ changed, over }, 'over-quota flags updated');
    }
    return changed;
  }

  /**
   * Failover notices for health (store/failovers.ts): when the exits the ingresses report down
   * change, every customer's ports are checked once. Drains and removals are checked by the
   * change itself, in its transaction.
   */
  async checkFailovers(): Promise<number> {
    const down = [...(await this.store.downExits())].sort().join('\0');
    if (down === this.lastDown) return 0;
    const n = await this.store.syncFailovers();
    this.lastDown = down;
    if (n > 0) this.o.log?.info({ notices: n }, 'failover notices written');
    return n;
  }

  /** Health history past the retention goes, at most every PRUNE_EVERY_MS (wall clock: the history's times are). */
  async pruneHealthHistory(force = false): Promise<number> {
    const now = Date.now();
    if (!force && now - this.lastPrune < PRUNE_EVERY_MS) return 0;
    this.lastPrune = now;
    const n = await this.store.pruneHealthHistory(new Date(now - (this.o.healthHistoryDays ?? 30) * 86_400_000).toISOString());
    if (n > 0) this.o.log?.info({ rows: n }, 'exit health history pruned');
    return n;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}

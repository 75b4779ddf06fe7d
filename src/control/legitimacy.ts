/**
 * Source legitimacy in the control plane (docs/LEGITIMACY.md): one
 * LegitimacyAnalysis for the ingresses of this control plane (one anycast
 * group), fed by the ingresses' evidence reports (POST /v1/stream/legitimacy),
 * run on a timer, and publishing rule sets and refreshes on each ingress's
 * config stream. Network events suspend the rules of the whole group:
 * ingresses whose stream drops (after a grace period) or comes back, an
 * operator's event (POST /v1/legitimacy/events), and what the analysis itself
 * detects (silent ingresses, catchment shifts).
 *
 * What the analysis learned is kept in the control plane's state dir
 * (`legitimacy-state.json`, written atomically every `saveIntervalMs` and on a
 * clean stop) and read back on start: a restarted control plane publishes the
 * rules that were in force at its first round instead of warming up again
 * (a state older than the analysis's maxReportAgeMs, or learned under other
 * prefix settings, is not reused). With several control-plane replicas each runs its own analysis over the
 * reports it receives — run the ingresses of a group against one replica (see
 * docs/LEGITIMACY.md, "Deploying").
 */
import { Counter, Gauge } from 'prom-client';
import { LegitimacyAnalysis, type AnalysisInit } from '../legitimacy/analysis.js';
import { checkReport } from '../legitimacy/evidence.js';
import type { NetworkEvent, Outbound } from '../legitimacy/messages.js';
import type { LegitimacyPostAnswer, LegitimacyPostBody, LegitimacyStatus } from '../shared/control-protocol.js';
import type { Logger } from '../shared/log.js';
import type { ControlMetrics } from './metrics.js';
import type { ConfigHub } from './stream.js';
import { AnalysisStateSchema } from '../legitimacy/analysis-state.js';
import { readStateFile, writeFileAtomicAsync, type StateDir } from '../shared/state-file.js';

export const LEGITIMACY_STATE_FILE = 'legitimacy-state.json';

export interface LegitimacyControlOptions {
  /** Run the analysis (default true). When false, reports are acknowledged and dropped. */
  readonly enabled?: boolean;
  /** Name of the anycast group (default 'default'). */
  readonly group?: string;
  /** Analysis options (src/legitimacy/analysis.ts); `intervalMs` is also the period of the rounds. */
  readonly analysis?: Omit<AnalysisInit, 'group'>;
  /** A dropped config stream counts as the ingress going down after this long without a new one (default 2000 ms). */
  readonly downGraceMs?: number;
  /** How often the learned state is written to the state dir (default 60 s; also on close). */
  readonly saveIntervalMs?: number;
}

export type OperatorEventKind = 'route-withdrawn' | 'route-announced' | 'transit-change' | 'maintenance' | 'ingress-down' | 'ingress-up' | 'other';

interface Heard {
  status: LegitimacyStatus | undefined;
  lastReportAt: number;
}

export class LegitimacyService {
  readonly analysis: LegitimacyAnalysis;
  readonly enabled: boolean;
  private readonly group: string;
  private readonly intervalMs: number;
  private readonly downGraceMs: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly grace = new Map<string, NodeJS.Timeout>();
  /** Ingresses this service announced as down (their stream went away). */
  private readonly downByStream = new Set<string>();
  private readonly heard = new Map<string, Heard>();
  private ruleEntries: Record<string, number> = {};
  private stopPresence: (() => void) | undefined;
  private closed = false;
  private readonly counters = { messages: 0, undelivered: 0, acks: 0, nacks: 0, events: 0 };
  private readonly saveIntervalMs: number;
  private lastSaveAt = Number.NaN;
  private saving: Promise<boolean> | undefined;

  constructor(
    private readonly hub: ConfigHub,
    o: LegitimacyControlOptions = {},
    private readonly log?: Logger,
    metrics?: ControlMetrics,
    private readonly stateDir?: StateDir,
  ) {
    this.enabled = o.enabled ?? true;
    this.group = o.group ?? 'default';
    this.analysis = new LegitimacyAnalysis({ group: this.group, ...o.analysis });
    this.intervalMs = this.analysis.opts.intervalMs;
    this.downGraceMs = o.downGraceMs ?? 2000;
    this.saveIntervalMs = o.saveIntervalMs ?? 60_000;
    if (this.enabled) this.restore();
    // Ingresses report at the analysis interval: one setting, told to them in `hello`.
    if (this.enabled) hub.legitimacyHello = { group: this.group, reportIntervalMs: this.intervalMs };
    if (metrics) this.registerMetrics(metrics);
  }

  start(): void {
    if (!this.enabled) return;
    this.stopPresence = this.hub.watchPresence((node, up) => this.presence(node, up));
    this.timer = setInterval(() => this.round(), this.intervalMs);
    this.timer.unref();
  }

  /** One analysis round now (the timer calls it every `intervalMs`). */
  round(now = Date.now()): void {
    if (this.closed || !this.enabled) return;
    try {
      const r = this.analysis.round(now);
      this.ruleEntries = r.ruleEntries;
      this.send(r.messages);
    } catch (err) {
      this.log?.error({ err: (err as Error).message }, 'legitimacy analysis round failed');
    }
    if (!(now - this.lastSaveAt < this.saveIntervalMs) && !this.saving) this.saving = this.save(now).finally(() => (this.saving = undefined));
  }

  /**
   * Write what the analysis learned to the state dir: atomic, the fsyncs off the
   * event loop (an unwritable dir is logged once by StateDir). Never rejects.
   */
  async save(now = Date.now()): Promise<boolean> {
    const dir = this.stateDir;
    if (!dir || !this.enabled) return false;
    this.lastSaveAt = now;
    try {
      const body = JSON.stringify(this.analysis.exportState(now));
      return await dir.attemptAsync(LEGITIMACY_STATE_FILE, () => writeFileAtomicAsync(dir.path(LEGITIMACY_STATE_FILE), body));
    } catch (err) {
      this.log?.error({ err: (err as Error).message }, 'legitimacy: could not save the learned state');
      return false;
    }
  }

  private restore(): void {
    if (!this.stateDir) return;
    const r = readStateFile(this.stateDir.path(LEGITIMACY_STATE_FILE), AnalysisStateSchema, this.log, 'legitimacy state');
    if (r.status !== 'ok') return;
    const st = r.value;
    const age = Date.now() - st.savedAt;
    let why = age > this.analysis.opts.maxReportAgeMs ? `saved ${Math.round(age / 60_000)} min ago, older than maxReportAgeMs` : undefined;
    why ??= this.analysis.importState(st);
    if (why) {
      this.log?.warn({ reason: why }, 'legitimacy: saved state not reused; learning from scratch');
      return;
    }
    this.log?.info({ mode: st.mode, prefixes: st.prefixes.count, ingresses: st.ingresses.length, ageMs: age }, 'legitimacy: resumed the learned state');
  }

  private send(outs: Outbound[]): void {
    for (const o of outs) {
      this.counters.messages++;
      if (!this.hub.sendTo(o.to, o.msg)) this.counters.undelivered++; // it asks again: a refresh it cannot match is NACKed
    }
  }

  /** Config stream up/down: an ingress of the group going away or coming back is a network event. */
  private presence(node: string, up: boolean): void {
    if (this.closed) return;
    if (up) {
      clearTimeout(this.grace.get(node));
      this.grace.delete(node);
      if (this.downByStream.delete(node)) this.event({ type: 'ingress-up', ingressId: node, reason: 'config stream back' });
      return;
    }
    if (!this.analysis.ingressIds().includes(node) || this.grace.has(node)) return; // not (yet) part of the group
    const t = setTimeout(() => {
      this.grace.delete(node);
      if (this.closed || this.hub.isSubscribed(node)) return;
      this.downByStream.add(node);
      this.event({ type: 'ingress-down', ingressId: node, reason: 'config stream closed' });
    }, this.downGraceMs);
    t.unref();
    this.grace.set(node, t);
  }

  private event(e: NetworkEvent, now = Date.now()): void {
    this.counters.events++;
    this.log?.warn({ event: e }, 'legitimacy: network event, rules suspended for the group');
    this.send(this.analysis.event(e, now));
  }

  /** The analysis here may only hear nodes whose stream it can answer on. */
  holdsStream(nodeId: string): boolean {
    return this.hub.isSubscribed(nodeId);
  }

  /** An ingress's reports, ACKs and state (POST /v1/stream/legitimacy). */
  post(nodeId: string, body: LegitimacyPostBody, now = Date.now()): LegitimacyPostAnswer {
    const acked: LegitimacyPostAnswer['acked'] = [];
    const h = this.heard.get(nodeId) ?? { status: undefined, lastReportAt: Number.NaN };
    this.heard.set(nodeId, h);
    if (body.status) h.status = body.status;
    for (const a of body.acks ?? []) {
      if (a.ingressId !== nodeId) continue;
      if (a.ok) this.counters.acks++;
      else this.counters.nacks++;
      if (this.enabled) this.analysis.ack(a);
    }
    for (const r of body.reports ?? []) {
      const bad = checkReport(r);
      const rep = r;
      if (bad || rep.ingressId !== nodeId) {
        // malformed, or not this node's: acknowledged (resending would not help) but not used
        if (!bad) acked.push({ ingressId: rep.ingressId, epoch: rep.epoch, seq: rep.seq });
        else if (typeof rep?.epoch === 'number' && typeof rep?.seq === 'number') acked.push({ ingressId: nodeId, epoch: rep.epoch, seq: rep.seq });
        this.log?.warn({ node: nodeId, reason: bad ?? `report of ${rep.ingressId}` }, 'legitimacy report refused');
        continue;
      }
      if (!this.enabled) {
        acked.push({ ingressId: nodeId, epoch: rep.epoch, seq: rep.seq });
        continue;
      }
      const res = this.analysis.ingest(rep, now);
      h.lastReportAt = now;
      if (res.ack) acked.push(res.ack);
      if (res.shift) this.log?.warn({ node: nodeId, share: res.unlikelyShare }, 'legitimacy: catchment shift detected');
      this.send(res.messages);
    }
    return { acked, enabled: this.enabled };
  }

  /** An operator's announcement: suspends the rules of the whole group at once. */
  operatorEvent(e: { kind: OperatorEventKind; ingress?: string | undefined; reason?: string | undefined; holdMs?: number | undefined }, now = Date.now()): void {
    if (!this.enabled) return;
    const why = e.reason ? `: ${e.reason}` : '';
    if (e.kind === 'ingress-down' || e.kind === 'ingress-up') {
      this.event({ type: e.kind, ingressId: e.ingress!, reason: `operator${why}` }, now);
      if (e.holdMs) this.event({ type: 'operator', reason: `${e.kind} ${e.ingress}${why}`, holdMs: e.holdMs }, now);
      return;
    }
    this.event({ type: 'operator', reason: `${e.kind}${e.ingress ? ` ${e.ingress}` : ''}${why}`, ...(e.holdMs ? { holdMs: e.holdMs } : {}) }, now);
  }

  /** GET /v1/legitimacy. */
  view(now = Date.now()) {
    const a = this.analysis;
    const since = a.suspendedFor(now);
    const o = a.opts;
    return {
      enabled: this.enabled,
      group: this.group,
      mode: a.mode,
      reason: a.reason,
      suspendedSince: Number.isNaN(since) ? null : new Date(now - since).toISOString(),
      prefixes: a.prefixCount,
      rows: a.rowCount,
      stats: { ...a.stats, ...this.counters },
      options: { intervalMs: o.intervalMs, halfLifeMs: o.halfLifeMs, threshold: o.threshold, minEvidence: o.minEvidence, warmupMs: o.warmupMs, ruleTtlMs: o.ruleTtlMs, publishGapMs: o.publishGapMs, silentAfterMs: o.silentAfterMs, suspend: o.suspend },
      ingresses: a.ingressState().map((s) => {
        const h = this.heard.get(s.id);
        return {
          id: s.id,
          connected: this.hub.isSubscribed(s.id),
          down: s.down,
          revision: s.revision,
          ackedRevision: s.ackedRevision,
          nacks: s.nacks,
          calmReports: s.calmReports,
          ruleEntries: this.ruleEntries[s.id] ?? 0,
          attack: h?.status?.attack ?? null,
          rulesActive: h?.status?.rulesActive ?? null,
          suspended: h?.status?.suspended ?? null,
          limited: h?.status?.limited ?? null,
          lastReportAt: h && !Number.isNaN(h.lastReportAt) ? new Date(h.lastReportAt).toISOString() : null,
        };
      }),
    };
  }

  private registerMetrics(m: ControlMetrics): void {
    const reg = m.registry;
    const analysis = this.analysis; // read inside collect(), where `this` is the metric
    new Gauge({
      name: 'hopgate_control_legitimacy_mode',
      help: 'Mode of the legitimacy analysis: 1 for the current one (warmup, active, suspended)',
      labelNames: ['mode'],
      registers: [reg],
      collect() {
        for (const mode of ['warmup', 'active', 'suspended']) this.set({ mode }, analysis.mode === mode ? 1 : 0);
      },
    });
    new Gauge({ name: 'hopgate_control_legitimacy_prefixes', help: 'Prefixes (with parents) the analysis keeps', registers: [reg], collect() { this.set(analysis.prefixCount); } });
    new Gauge({ name: 'hopgate_control_legitimacy_round_seconds', help: 'Duration of the last analysis round', registers: [reg], collect() { this.set(analysis.stats.lastRoundMs / 1000); } });
    const last = new Map<string, number>();
    new Counter({
      name: 'hopgate_control_legitimacy_events_total',
      help: 'Legitimacy analysis events by kind (reports, duplicates, stale, invalid, shifts, suspensions, resumptions, rounds)',
      labelNames: ['kind'],
      registers: [reg],
      collect() {
        const s = analysis.stats;
        for (const kind of ['reports', 'duplicates', 'stale', 'invalid', 'shifts', 'suspensions', 'resumptions', 'rounds'] as const) {
          const d = s[kind] - (last.get(kind) ?? 0);
          if (d > 0) {
            last.set(kind, s[kind]);
            this.inc({ kind }, d);
          }
        }
      },
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.saving;
    await this.save();
    clearInterval(this.timer);
    for (const t of this.grace.values()) clearTimeout(t);
    this.grace.clear();
    this.stopPresence?.();
  }
}

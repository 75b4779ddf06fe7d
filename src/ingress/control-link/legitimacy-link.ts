/**
 * Source legitimacy between an ingress node and the control plane
 * (docs/LEGITIMACY.md). Runs in the process holding the config stream: the
 * single ingress process, or the primary of a cluster.
 *
 * - Evidence: one EvidenceCollector per node. The gate of this process
 *   (single) or the workers over IPC (cluster, every second) hand it the
 *   accepted flows by prefix; every `reportIntervalMs` a report is cut. While
 *   any process of the node is in attack mode, reports say `paused`.
 * - Reports and rule ACKs go to `POST /v1/stream/legitimacy`; unacknowledged
 *   reports (up to 32) are sent again with every post until the answer lists
 *   them (the control plane is idempotent on ingressId + epoch + seq).
 * - Rule sets and refreshes come on the stream. They are applied here — to
 *   the local gate's enforcer (single), or to a shadow enforcer that decides
 *   the ACK/NACK and holds the rules in force (cluster: accepted messages are
 *   relayed to every worker, and replayed to a worker that starts later). The
 *   ACK or NACK is posted at once.
 */
import { EvidenceCollector, type EvidenceReport } from '../../legitimacy/evidence.js';
import { LegitimacyEnforcer } from '../../legitimacy/enforcer.js';
import type { RuleMessage, RulesAck, RuleSet } from '../../legitimacy/messages.js';
import { MIN_REPORT_INTERVAL_MS, type LegitimacyPostAnswer, type LegitimacyPostBody, type LegitimacyStatus } from '../../shared/control-protocol.js';
import type { LegitimacyConfig } from '../../shared/schema/ingress-config.js';
import { fitsTimer } from '../../shared/schema/timer-ms.js';
import type { Logger } from '../../shared/log.js';
import type { LegitimacyGate } from '../guard/legitimacy-gate.js';

/** The report interval until the control plane's `hello` says otherwise. */
export const DEFAULT_REPORT_INTERVAL_MS = 10_000;

/**
 * A report interval an ingress takes from the control plane (`hello`): from MIN_REPORT_INTERVAL_MS to
 * the timers' cap (a longer setInterval fires every 1 ms). The number is not trusted blindly.
 */
export function isReportInterval(ms: number): boolean {
  return fitsTimer(ms, MIN_REPORT_INTERVAL_MS);
}

/** Estimated JSON size of the reports in one post (the control plane accepts 1 MiB bodies). */
const MAX_POST_BYTES = 600_000;

/** Worker → primary, every second: accepted flows by prefix since the last message, and attack mode. */
export interface LegitimacyEvidenceMsg {
  type: 'hopgate:legit:evidence';
  counts: Array<[string, number]>;
  attack: boolean;
  limited: number;
}
/** Primary → worker: a rule message the primary accepted (ACKed). */
export interface LegitimacyRulesMsg {
  type: 'hopgate:legit:rules';
  msg: RuleMessage;
}

export interface LegitimacyLinkOptions {
  readonly ingressId: string;
  /** How often a report is cut (the control plane's analysis interval, from `hello`). */
  readonly reportIntervalMs: number;
  readonly config: LegitimacyConfig;
  readonly post: (body: LegitimacyPostBody) => Promise<LegitimacyPostAnswer | undefined>;
  readonly log?: Logger;
  /** Single process: the gate of this process. */
  readonly gate?: LegitimacyGate;
  /** Cluster: send an accepted rule message to every worker. */
  readonly relay?: (m: LegitimacyRulesMsg) => void;
  readonly now?: () => number;
}

export class LegitimacyLink {
  readonly collector: EvidenceCollector;
  /** Cluster: decides ACK/NACK and holds the rules in force for workers that start later. */
  private readonly shadow: LegitimacyEnforcer | undefined;
  private lastSet: RuleSet | undefined;
  private lastRefresh: RuleMessage | undefined;
  private readonly workers = new Map<number, { attack: boolean; limited: number }>();
  private acks: RulesAck[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private intervalMs: number;
  readonly stats = { posts: 0, postFailures: 0, reports: 0 };
  /** The control plane runs the analysis (its `hello` said so): reports are posted only then. */
  remote = true;

  constructor(private readonly o: LegitimacyLinkOptions) {
    const now = o.now ?? Date.now;
    this.collector = new EvidenceCollector({ ingressId: o.ingressId, capacity: o.config.capacity, now });
    this.intervalMs = isReportInterval(o.reportIntervalMs) ? o.reportIntervalMs : DEFAULT_REPORT_INTERVAL_MS;
    if (!o.gate) this.shadow = new LegitimacyEnforcer({ ingressId: o.ingressId, now });
    if (o.gate) o.gate.onAttackChange = (attack) => void (this.collector.paused = attack);
  }

  start(): void {
    this.schedule();
  }

  private schedule(): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.cut(), this.intervalMs);
    this.timer.unref();
  }

  /** The control plane's interval (a new `hello`). */
  setReportInterval(ms: number): void {
    if (ms === this.intervalMs) return;
    if (!isReportInterval(ms)) {
      this.o.log?.warn({ reportIntervalMs: ms, kept: this.intervalMs }, 'legitimacy report interval from the control plane out of range (100 ms to 2^31-1); the current one stays');
      return;
    }
    this.intervalMs = ms;
    if (this.timer) this.schedule();
  }

  /** Any process of the node in attack mode. */
  get attack(): boolean {
    if (this.o.gate) return this.o.gate.enforcer.attackMode;
    for (const w of this.workers.values()) if (w.attack) return true;
    return false;
  }

  /** Cluster: a worker's evidence and attack state. */
  fromWorker(workerId: number, m: LegitimacyEvidenceMsg): void {
    this.workers.set(workerId, { attack: m.attack, limited: m.limited });
    for (const [key, n] of m.counts) this.collector.recordPrefix(key, n);
    this.collector.paused = this.attack;
  }

  workerGone(workerId: number): void {
    this.workers.delete(workerId);
    this.collector.paused = this.attack;
  }

  /** Cluster: what a newly started worker must apply to hold the rules in force. */
  replay(): LegitimacyRulesMsg[] {
    const out: LegitimacyRulesMsg[] = [];
    if (this.lastSet) out.push({ type: 'hopgate:legit:rules', msg: this.lastSet });
    if (this.lastRefresh) out.push({ type: 'hopgate:legit:rules', msg: this.lastRefresh });
    return out;
  }

  /** A rule set or refresh from the stream: apply, answer at once. */
  onRuleMessage(m: RuleMessage): void {
    const ack = this.o.gate ? this.o.gate.apply(m) : this.shadow!.apply(m);
    if (ack.ok && this.o.relay) {
      if (m.type === 'legitimacy.rules') {
        if (!this.lastSet || m.revision !== this.lastSet.revision) this.lastRefresh = undefined;
        this.lastSet = m;
      } else this.lastRefresh = m;
      this.o.relay({ type: 'hopgate:legit:rules', msg: m });
    }
    if (!ack.ok) this.o.log?.warn({ revision: ack.revision, reason: ack.reason }, 'legitimacy rule set refused (NACK); the previous one stays in force');
    this.acks.push(ack);
    if (this.acks.length > 64) this.acks.splice(0, this.acks.length - 64);
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- flush() catches its own failures
    void this.flush();
  }

  /** Cut a report from the evidence gathered since the last one, and send what is pending. */
  cut(): void {
    if (this.stopped) return;
    const gate = this.o.gate;
    if (gate) {
      gate.advance();
      this.collector.paused = gate.enforcer.attackMode;
      for (const [key, n] of gate.drainEvidence()) this.collector.recordPrefix(key, n);
    }
    this.collector.cut();
    this.stats.reports++;
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- flush() catches its own failures
    void this.flush();
  }

  status(): LegitimacyStatus {
    const en = this.o.gate?.enforcer ?? this.shadow!;
    const s = en.state();
    let limited = 0;
    if (this.o.gate) limited = en.limitedTotal();
    else for (const w of this.workers.values()) limited += w.limited;
    return { attack: this.attack, rulesActive: en.rulesActive(), suspended: s.suspended, revision: s.revision, reason: s.reason, limited };
  }

  /** Post the unacknowledged reports and the pending ACKs (one post at a time; coalesced). */
  flush(): Promise<void> {
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    if (!this.remote) return Promise.resolve(); // reports queue (bounded) until a control plane that wants them
    this.inFlight = (async () => {
      do {
        this.again = false;
        // The oldest first, within the control plane's body limit (1 MiB): the rest go in the next post.
        const reports: EvidenceReport[] = [];
        let bytes = 0;
        for (const r of this.collector.unacked()) {
          bytes += 200 + 40 * r.counts.length;
          if (reports.length > 0 && bytes > MAX_POST_BYTES) {
            this.again = true;
            break;
          }
          reports.push(r);
        }
        const acks = this.acks;
        this.acks = [];
        if (reports.length === 0 && acks.length === 0) break;
        this.stats.posts++;
        const answer = await this.o.post({ reports, acks, status: this.status() }).catch((err: unknown) => {
          this.o.log?.warn({ err: String(err) }, 'legitimacy post failed');
          return undefined; // as a post that could not complete: below, the ACKs are kept for the next one
        });
        if (!answer) {
          this.stats.postFailures++;
          // keep the ACKs that did not go out (newer ones first in line after them)
          this.acks = [...acks, ...this.acks].slice(-64);
          break; // the reports stay queued; the next cut tries again
        }
        let progress = false;
        for (const a of answer.acked) {
          const before = this.collector.unacked().length;
          this.collector.ack(a.seq, a.epoch);
          progress ||= this.collector.unacked().length < before;
        }
        if (!progress && this.acks.length === 0) break; // nothing moved: do not spin
      } while (this.again && !this.stopped);
    })()
      .catch((err: unknown) => {
        // Callers do not await this (a rule message, the report timer): it must never reject.
        this.stats.postFailures++;
        this.o.log?.warn({ err: String(err) }, 'legitimacy answer not understood; the reports stay queued');
      })
      .finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    if (this.o.gate) this.o.gate.onAttackChange = undefined;
  }
}

/**
 * Enforcement at the ingress (pure logic: no sockets, no timers; the clock is
 * injected). The ingress calls it
 *   - at admission, before the first byte is read: {@link LegitimacyEnforcer.admitConnection};
 *   - for each UDP datagram: {@link LegitimacyEnforcer.admitDatagram} — datagrams of an
 *     established, authenticated association pass `established: true` and are
 *     never limited (counted as `established`);
 *   - on every failed authentication: `observe('authFail')`;
 * and hands it the rule messages from the control plane ({@link LegitimacyEnforcer.apply}),
 * sending back the ACK/NACK it returns.
 *
 * Attack mode. Three signals — pre-auth connection rate, UDP packet rate,
 * authentication failures — are counted per tick (1 s) and each compared with
 * its own baseline (an EWMA with a 10-minute half-life, frozen during attack
 * mode). Attack mode starts as soon as any signal's count in the current tick
 * exceeds max(`enterMin`, `enterFactor` × baseline); it ends once every signal
 * has stayed below max(`enterMin`, `exitFactor` × baseline) for `calmMs`.
 *
 * Outside attack mode nothing is limited. In attack mode a source is looked up
 * (longest-prefix match) in the rule set in force: `expected` passes;
 * `unlikely` and `unlikely-via-parent` share one token bucket per kind
 * (connections, datagrams); `unknown` has its own. Bucket rates are a share of
 * the baseline frozen when the attack began (with a floor), so legitimate
 * newcomers still get through at a trickle. No rules in force (none received,
 * expired, or suspended by a network event) → nothing is limited: fail open.
 *
 * Nothing here ever touches an established session: the enforcer only answers
 * admission questions; the caller must not re-ask for open connections.
 */
import { checkRuleMessage, type RuleMessage, type RulesAck, type SourceClass } from './messages.js';
import { CidrTable, parseAddr, type Addr } from '../shared/cidr.js';
import { AttackDetector, type DetectorOptions, type Signal } from './attack-detector.js';
import { RateBucket } from './rate-bucket.js';

export { AttackDetector, DEFAULT_DETECTOR, type DetectorOptions, type Signal } from './attack-detector.js';
export { RateBucket } from './rate-bucket.js';

export interface BucketOptions {
  /** Refill rate as a share of the frozen baseline of the kind (conn or udp). */
  share: number;
  /** Floor of the rate, per second. */
  minConn: number;
  minUdp: number;
  /** Bucket size in seconds of rate (default 1). */
  burstSeconds: number;
}

export interface EnforcerOptions {
  ingressId: string;
  /** When set, rule sets for another group are refused. */
  group?: string;
  /** Wall clock in ms (rule expiry is in the control plane's wall clock). */
  now?: () => number;
  detector?: Partial<DetectorOptions>;
  unlikely?: Partial<BucketOptions>;
  unknown?: Partial<BucketOptions>;
  /** Largest rule set accepted (entries); bigger ones are NACKed. */
  maxEntries?: number;
  /** Called when attack mode starts or ends (e.g. to pause evidence learning). */
  onAttackChange?: (attack: boolean, signal: Signal | undefined) => void;
}

export const DEFAULT_UNLIKELY_BUCKET: BucketOptions = { share: 0.2, minConn: 10, minUdp: 200, burstSeconds: 1 };
export const DEFAULT_UNKNOWN_BUCKET: BucketOptions = { share: 0.05, minConn: 10, minUdp: 200, burstSeconds: 1 };

/** What a decision is counted under: a source class, an established session, or no rules in force. */
export type DecisionClass = SourceClass | 'established' | 'inactive';
export const DECISION_CLASSES: readonly DecisionClass[] = ['expected', 'unlikely', 'unlikely-via-parent', 'unknown', 'established', 'inactive'];
export type Kind = 'conn' | 'udp';

export interface Verdict {
  readonly allow: boolean;
  readonly cls: DecisionClass;
}

const CODE_OF: Record<SourceClass, number> = { expected: 0, unlikely: 1, 'unlikely-via-parent': 2, unknown: 3 };
const ESTABLISHED = 4;
const INACTIVE = 5;
/** Frozen verdicts, so the hot path allocates nothing: VERDICTS[allow][class code]. */
const VERDICTS: readonly (readonly Verdict[])[] = [false, true].map((allow) => DECISION_CLASSES.map((cls) => Object.freeze({ allow, cls })));

interface RulesInForce {
  revision: number;
  expiresAt: number;
  suspended: boolean;
  reason: string;
  matcher: CidrTable<number>;
  entries: number;
}

export class LegitimacyEnforcer {
  readonly ingressId: string;
  private readonly group: string | undefined;
  private readonly now: () => number;
  readonly detector: AttackDetector;
  private readonly unlikelyOpt: BucketOptions;
  private readonly unknownOpt: BucketOptions;
  private readonly maxEntries: number;
  private rules: RulesInForce | undefined;
  /** buckets[kind][0 = unlikely, 1 = unknown] — sized at attack entry. */
  private buckets: RateBucket[][] = [];
  /** counts[(kind * 6 + class) * 2 + allowed] */
  private readonly counts = new Float64Array(2 * 6 * 2);
  /** Admissions passed by the fast path outside attack mode, unclassified: [conn, udp]. */
  private readonly unchecked = new Float64Array(2);
  readonly applyStats = { acks: 0, nacks: 0 };

  constructor(o: EnforcerOptions) {
    this.ingressId = o.ingressId;
    this.group = o.group;
    this.now = o.now ?? Date.now;
    this.unlikelyOpt = { ...DEFAULT_UNLIKELY_BUCKET, ...o.unlikely };
    this.unknownOpt = { ...DEFAULT_UNKNOWN_BUCKET, ...o.unknown };
    this.maxEntries = o.maxEntries ?? 1_000_000;
    this.detector = new AttackDetector(this.now(), o.detector, (attack, sig) => {
      if (attack) this.sizeBuckets();
      o.onAttackChange?.(attack, sig);
    });
  }

  get attackMode(): boolean {
    return this.detector.inAttack;
  }

  /** Rules are in force: received, not expired, not suspended. */
  rulesActive(now = this.now()): boolean {
    const r = this.rules;
    return r !== undefined && !r.suspended && now < r.expiresAt;
  }

  private sizeBuckets(): void {
    const t = this.now();
    const mk = (o: BucketOptions, kind: Kind) => {
      const base = this.detector.baseline(kind === 'conn' ? 'conn' : 'udp');
      const rate = Math.max(kind === 'conn' ? o.minConn : o.minUdp, o.share * base);
      return new RateBucket(rate, Math.max(1, rate * o.burstSeconds), t);
    };
    this.buckets = [
      [mk(this.unlikelyOpt, 'conn'), mk(this.unknownOpt, 'conn')],
      [mk(this.unlikelyOpt, 'udp'), mk(this.unknownOpt, 'udp')],
    ];
  }

  /** Count a signal (use for authentication failures; admissions count themselves). */
  observe(sig: Signal, n = 1): void {
    this.detector.observe(sig, n, this.now());
  }

  /** Class of a source under the rules in force (`inactive` when none). */
  classify(address: string | Addr): DecisionClass {
    const a = typeof address === 'string' ? parseAddr(address) : address;
    if (!this.rulesActive()) return 'inactive';
    if (!a) return 'unknown';
    return DECISION_CLASSES[this.rules!.matcher.lookup(a) ?? 3]!;
  }

  /** A new connection, before its first byte. */
  admitConnection(address: string): Verdict {
    const a = parseAddr(address);
    return this.decide(0, a);
  }

  /**
   * The ingress's admission hot path. Outside attack mode it only counts the
   * connection for the detector and passes it, unclassified (no address
   * parsing, no lookup, no allocation); in attack mode it is
   * {@link admitConnection}. Returns whether to admit.
   */
  passConnection(address: string): boolean {
    return this.pass(0, address);
  }

  /** {@link passConnection} for a UDP datagram that does not belong to an established association. */
  passDatagram(address: string): boolean {
    return this.pass(1, address);
  }

  private pass(k: 0 | 1, address: string): boolean {
    const d = this.detector;
    if (!d.inAttack) {
      d.observe(k === 0 ? 'conn' : 'udp', 1, this.now());
      if (!d.inAttack) {
        this.unchecked[k]!++;
        return true;
      }
      return this.decide(k, parseAddr(address), true).allow; // this very admission started attack mode
    }
    return this.decide(k, parseAddr(address)).allow;
  }

  /** Admissions passed unclassified outside attack mode, by kind (for `/metrics`). */
  uncheckedCounts(): Record<Kind, number> {
    return { conn: this.unchecked[0]!, udp: this.unchecked[1]! };
  }

  /** A UDP datagram; `established`: it belongs to an authenticated association from that address. */
  admitDatagram(address: string, established = false): Verdict {
    if (established) {
      this.detector.observe('udp', 1, this.now());
      this.counts[(1 * 6 + ESTABLISHED) * 2 + 1]!++;
      return VERDICTS[1]![ESTABLISHED]!;
    }
    return this.decide(1, parseAddr(address));
  }

  /** Hot path for callers holding an IPv4 address as an unsigned 32-bit number (the simulator). */
  admitV4(kind: Kind, v: number): Verdict {
    return this.decide(kind === 'conn' ? 0 : 1, { family: 4, v });
  }

  private decide(k: 0 | 1, a: Addr | undefined, observed = false): Verdict {
    const now = this.now();
    if (!observed) this.detector.observe(k === 0 ? 'conn' : 'udp', 1, now);
    const r = this.rules;
    let code: number;
    if (r === undefined || r.suspended || now >= r.expiresAt) code = INACTIVE;
    else code = a === undefined ? 3 : (r.matcher.lookup(a) ?? 3);
    let allow = true;
    if (code <= 3 && code !== 0 && this.detector.inAttack) {
      if (this.buckets.length === 0) this.sizeBuckets();
      allow = this.buckets[k]![code === 3 ? 1 : 0]!.take(now);
    }
    this.counts[(k * 6 + code) * 2 + (allow ? 1 : 0)]!++;
    return VERDICTS[allow ? 1 : 0]![code]!;
  }

  /**
   * Apply a rule set or refresh from the control plane. Returns the ACK/NACK
   * to send back; on a NACK the rules in force are unchanged.
   */
  apply(msg: unknown): RulesAck {
    const m = msg as RuleMessage;
    const nack = (reason: string): RulesAck => {
      this.applyStats.nacks++;
      return { v: 1, type: 'legitimacy.ack', ingressId: this.ingressId, revision: typeof m?.revision === 'number' ? m.revision : -1, ok: false, reason };
    };
    const bad = checkRuleMessage(msg, this.maxEntries);
    if (bad) return nack(bad);
    if (m.ingressId !== this.ingressId) return nack(`for ingress ${m.ingressId}`);
    if (this.group !== undefined && m.group !== this.group) return nack(`for group ${m.group}`);
    const now = this.now();
    const cur = this.rules;
    const ok = (): RulesAck => {
      this.applyStats.acks++;
      return { v: 1, type: 'legitimacy.ack', ingressId: this.ingressId, revision: m.revision, ok: true };
    };
    if (m.type === 'legitimacy.refresh') {
      if (!cur || cur.revision !== m.revision) return nack('unknown revision');
      cur.expiresAt = Math.max(cur.expiresAt, m.expiresAt);
      return ok();
    }
    if (cur && m.revision < cur.revision) return nack('stale revision');
    if (cur && m.revision === cur.revision) {
      cur.expiresAt = Math.max(cur.expiresAt, m.expiresAt);
      return ok(); // a resend
    }
    if (m.expiresAt <= now) return nack('already expired');
    const matcher = new CidrTable<number>();
    for (const c of m.expected) matcher.add(c, CODE_OF.expected);
    for (const c of m.unlikely) matcher.add(c, CODE_OF.unlikely);
    for (const c of m.unlikelyViaParent) matcher.add(c, CODE_OF['unlikely-via-parent']);
    this.rules = { revision: m.revision, expiresAt: m.expiresAt, suspended: m.suspended, reason: m.reason, matcher, entries: matcher.size };
    return ok();
  }

  /** Decisions so far: kind → class → {allowed, limited}. For `/metrics`. */
  /** Decisions that limited, all kinds and classes together. */
  limitedTotal(): number {
    let n = 0;
    for (let i = 0; i < this.counts.length; i += 2) n += this.counts[i]!;
    return n;
  }

  counters(): Record<Kind, Record<DecisionClass, { allowed: number; limited: number }>> {
    const out = {} as Record<Kind, Record<DecisionClass, { allowed: number; limited: number }>>;
    (['conn', 'udp'] as const).forEach((kind, k) => {
      const byClass = {} as Record<DecisionClass, { allowed: number; limited: number }>;
      DECISION_CLASSES.forEach((cls, c) => {
        byClass[cls] = { allowed: this.counts[(k * 6 + c) * 2 + 1]!, limited: this.counts[(k * 6 + c) * 2]! };
      });
      out[kind] = byClass;
    });
    return out;
  }

  /** For `/metrics` and the admin API. */
  state(): { attack: boolean; cause: Signal | undefined; rulesActive: boolean; revision: number; expiresAt: number; suspended: boolean; reason: string; entries: number; baselines: Record<Signal, number> } {
    const r = this.rules;
    return {
      attack: this.detector.inAttack,
      cause: this.detector.cause,
      rulesActive: this.rulesActive(),
      revision: r?.revision ?? 0,
      expiresAt: r?.expiresAt ?? 0,
      suspended: r?.suspended ?? false,
      reason: r?.reason ?? '',
      entries: r?.entries ?? 0,
      baselines: { conn: this.detector.baseline('conn'), udp: this.detector.baseline('udp'), authFail: this.detector.baseline('authFail') },
    };
  }
}

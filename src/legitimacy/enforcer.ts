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
import { CidrMatcher, parseAddr, type Addr } from './prefix.js';

export type Signal = 'conn' | 'udp' | 'authFail';
const SIGNALS: readonly Signal[] = ['conn', 'udp', 'authFail'];

export interface DetectorOptions {
  tickMs: number;
  /** Half-life of the baselines (default 10 min). */
  baselineHalfLifeMs: number;
  /** No detection until the baselines have been learned this long (default 60 s). */
  warmupMs: number;
  /** Enter attack mode above this many times the baseline… (default 5) */
  enterFactor: number;
  /** …and above this absolute rate per second, per signal. */
  enterMin: Record<Signal, number>;
  /** Calm means below this many times the baseline (default 2)… */
  exitFactor: number;
  /** …for this long (default 60 s). */
  calmMs: number;
  /**
   * After this long in attack mode the baselines adapt again (default 15 min):
   * a lasting change of load (e.g. a neighbour's catchment moved here) must not
   * keep the ingress in attack mode for ever. A flood longer than this slowly
   * becomes the new normal — the price of baselines that follow the load.
   */
  maxFrozenMs: number;
  /** No observation for this long (the ingress was down or idle) restarts the warm-up (default 5 min). */
  idleResetMs: number;
}

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

export const DEFAULT_DETECTOR: DetectorOptions = {
  tickMs: 1000,
  baselineHalfLifeMs: 600_000,
  warmupMs: 60_000,
  enterFactor: 5,
  enterMin: { conn: 50, udp: 2000, authFail: 20 },
  exitFactor: 2,
  calmMs: 60_000,
  maxFrozenMs: 900_000,
  idleResetMs: 300_000,
};
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

/** A lazily refilled token bucket (tokens per second). */
export class RateBucket {
  private tokens: number;
  private last: number;
  constructor(
    public rate: number,
    public burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }
  take(now: number): boolean {
    const dt = now - this.last;
    if (dt > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (dt / 1000) * this.rate);
      this.last = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }
}

interface SignalState {
  count: number;
  baseline: number;
  lastRate: number;
}

/** Attack-mode detector over the three signals. */
export class AttackDetector {
  readonly o: DetectorOptions;
  private readonly s: Record<Signal, SignalState>;
  private tickStart: number;
  /** First observation: warm-up and the running mean count from here, not from construction. */
  private started = Number.NaN;
  private ticks = 0;
  private attack = false;
  private attackSince = Number.NaN;
  private lastObs = Number.NaN;
  private calmSince = Number.NaN;
  /** The signal that started the current attack mode. */
  cause: Signal | undefined;
  /** Times attack mode was entered. */
  entries = 0;
  private readonly w: number;

  constructor(
    now: number,
    o: Partial<DetectorOptions> = {},
    private readonly onChange?: (attack: boolean, signal: Signal | undefined) => void,
  ) {
    this.o = { ...DEFAULT_DETECTOR, ...o, enterMin: { ...DEFAULT_DETECTOR.enterMin, ...o.enterMin } };
    this.s = { conn: { count: 0, baseline: 0, lastRate: 0 }, udp: { count: 0, baseline: 0, lastRate: 0 }, authFail: { count: 0, baseline: 0, lastRate: 0 } };
    this.tickStart = now;
    this.w = 1 - Math.pow(2, -this.o.tickMs / this.o.baselineHalfLifeMs);
  }

  get inAttack(): boolean {
    return this.attack;
  }

  /** Baseline rate per second of a signal. */
  baseline(sig: Signal): number {
    return this.s[sig].baseline;
  }

  rate(sig: Signal): number {
    return this.s[sig].lastRate;
  }

  private enterLimit(sig: Signal): number {
    return Math.max(this.o.enterMin[sig], this.o.enterFactor * this.s[sig].baseline);
  }

  private calmLimit(sig: Signal): number {
    return Math.max(this.o.enterMin[sig], this.o.exitFactor * this.s[sig].baseline);
  }

  private warm(now: number): boolean {
    return now - this.started >= this.o.warmupMs;
  }

  /** Count n events of a signal at `now` (advances the ticks first). */
  observe(sig: Signal, n: number, now: number): void {
    if (Number.isNaN(this.started) || now - this.lastObs > this.o.idleResetMs) {
      // first observation, or back after a long silence: learn the baselines afresh
      if (this.attack) this.leave();
      this.started = now;
      this.tickStart = now;
      this.ticks = 0;
      for (const x of SIGNALS) this.s[x].count = 0;
    }
    this.lastObs = now;
    this.advance(now);
    const st = this.s[sig];
    st.count += n;
    // react within the tick: the count so far already exceeds a whole tick's allowance
    if (!this.attack && this.warm(now) && st.count > (this.enterLimit(sig) * this.o.tickMs) / 1000) this.enter(sig, now);
  }

  /** Close every tick that ended by `now`. */
  advance(now: number): void {
    const T = this.o.tickMs;
    if (Number.isNaN(this.started) || now - this.tickStart < T) return;
    this.closeTick(now);
    this.tickStart += T;
    // idle ticks since: rate 0 each (closed form for long gaps)
    const idle = Math.floor((now - this.tickStart) / T);
    if (idle > 0) {
      for (const sig of SIGNALS) {
        const st = this.s[sig];
        st.lastRate = 0;
        if (!this.attack) st.baseline *= this.ticks < 1 ? 1 : Math.pow(1 - this.w, idle);
      }
      this.ticks += idle;
      if (this.attack && Number.isNaN(this.calmSince)) this.calmSince = this.tickStart;
      this.tickStart += idle * T;
      if (this.attack && now - this.calmSince >= this.o.calmMs) this.leave();
    }
  }

  private closeTick(now: number): void {
    const secs = this.o.tickMs / 1000;
    const warm = this.warm(this.tickStart + this.o.tickMs);
    let jump: Signal | undefined;
    let calm = true;
    for (const sig of SIGNALS) {
      const st = this.s[sig];
      const rate = st.count / secs;
      st.lastRate = rate;
      st.count = 0;
      if (rate > this.enterLimit(sig)) jump ??= sig;
      if (rate > this.calmLimit(sig)) calm = false;
      const thawed = this.attack && this.tickStart + this.o.tickMs - this.attackSince >= this.o.maxFrozenMs;
      if (thawed || (!this.attack && (!warm || rate <= this.enterLimit(sig)))) {
        // during warm-up: the running mean; then the EWMA
        const w = this.ticks < 1 / this.w ? 1 / (this.ticks + 1) : this.w;
        st.baseline += w * (rate - st.baseline);
      }
    }
    this.ticks++;
    if (!this.attack) {
      if (jump && warm) this.enter(jump, now);
      return;
    }
    if (!calm) this.calmSince = Number.NaN;
    else if (Number.isNaN(this.calmSince)) this.calmSince = this.tickStart + this.o.tickMs;
    if (!Number.isNaN(this.calmSince) && this.tickStart + this.o.tickMs - this.calmSince >= this.o.calmMs) this.leave();
  }

  private enter(sig: Signal, _now: number): void {
    this.attack = true;
    this.attackSince = _now;
    this.cause = sig;
    this.calmSince = Number.NaN;
    this.entries++;
    this.onChange?.(true, sig);
  }

  private leave(): void {
    this.attack = false;
    this.cause = undefined;
    this.calmSince = Number.NaN;
    this.onChange?.(false, undefined);
  }
}

interface RulesInForce {
  revision: number;
  expiresAt: number;
  suspended: boolean;
  reason: string;
  matcher: CidrMatcher<number>;
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
    const matcher = new CidrMatcher<number>();
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

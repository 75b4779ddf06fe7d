/**
 * Attack-mode detection at the ingress (enforcer.ts, "Attack mode"): three
 * signals — pre-auth connection rate, UDP packet rate, authentication
 * failures — counted per tick and each compared with its own EWMA baseline,
 * frozen during attack mode (for at most `maxFrozenMs`). Pure; the clock is
 * passed in.
 */

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

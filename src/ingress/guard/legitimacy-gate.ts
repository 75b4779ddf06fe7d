/**
 * Source legitimacy in one ingress process (docs/LEGITIMACY.md): the
 * attack-mode enforcer asked at admission and per UDP datagram, and the
 * evidence of accepted flows, buffered by prefix until the control link
 * (control-link/legitimacy-link.ts) drains it into its evidence collector —
 * in this process, or over IPC in the primary when there are workers.
 *
 * Cost outside attack mode: `admitConnection` is a mode check, a few
 * comparisons against a coarse clock and a counter increment
 * (LegitimacyEnforcer.passConnection); nothing is parsed or allocated.
 * Only authenticated sessions are recorded as evidence (see `accepted`).
 */
import { LegitimacyEnforcer, type EnforcerOptions, type Signal } from '../../legitimacy/enforcer.js';
import type { RuleMessage, RulesAck } from '../../legitimacy/messages.js';
import { prefixKey } from '../../legitimacy/prefix.js';
import type { LegitimacyConfig } from '../../shared/schema/ingress-config.js';

/**
 * The gates' clock: Date.now() read by a timer every 20 ms instead of on every
 * connection (a clock read costs ~80 ns on some virtual machines, the rest of
 * the admission check a few). Rule expiry and token buckets are fine with it.
 */
let coarse = Date.now();
let coarseTimer: NodeJS.Timeout | undefined;
export function coarseNow(): number {
  return coarse;
}
function startCoarseClock(): void {
  if (coarseTimer) return;
  coarse = Date.now();
  coarseTimer = setInterval(() => (coarse = Date.now()), 20);
  coarseTimer.unref();
}

/** The enforcer's options from the `legitimacy` section of the ingress configuration. */
export function enforcerOptions(cfg: LegitimacyConfig): Pick<EnforcerOptions, 'detector' | 'unlikely' | 'unknown'> {
  const d = cfg.detector;
  const enterMin: Partial<Record<Signal, number>> = {};
  if (d.enterMinConn !== undefined) enterMin.conn = d.enterMinConn;
  if (d.enterMinUdp !== undefined) enterMin.udp = d.enterMinUdp;
  if (d.enterMinAuthFail !== undefined) enterMin.authFail = d.enterMinAuthFail;
  const { enterMinConn: _c, enterMinUdp: _u, enterMinAuthFail: _a, ...rest } = d;
  const detector = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  const bucket = (b: LegitimacyConfig['unlikely']) => Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined));
  return {
    detector: { ...detector, ...(Object.keys(enterMin).length > 0 ? { enterMin: enterMin as Record<Signal, number> } : {}) },
    unlikely: bucket(cfg.unlikely),
    unknown: bucket(cfg.unknown),
  };
}

export class LegitimacyGate {
  private en: LegitimacyEnforcer;
  private optsKey: string;
  private pending = new Map<string, number>();
  private pendingFlows = 0;
  private maxPending: number;
  /** Accepted flows not buffered because the buffer was full (between two drains). */
  droppedEvidence = 0;
  /** Accepted flows recorded (cumulative, for /metrics). */
  recorded = 0;
  /** Attack mode started or ended in this process. */
  onAttackChange: ((attack: boolean, cause: Signal | undefined) => void) | undefined;

  constructor(
    readonly ingressId: string,
    cfg: LegitimacyConfig,
    private readonly now: () => number = coarseNow,
  ) {
    if (now === coarseNow) startCoarseClock();
    this.optsKey = JSON.stringify(enforcerOptions(cfg));
    this.maxPending = 4 * cfg.capacity;
    this.en = this.make(cfg);
  }

  private make(cfg: LegitimacyConfig): LegitimacyEnforcer {
    return new LegitimacyEnforcer({ ingressId: this.ingressId, now: this.now, ...enforcerOptions(cfg), onAttackChange: (a, s) => this.onAttackChange?.(a, s) });
  }

  get enforcer(): LegitimacyEnforcer {
    return this.en;
  }

  /**
   * A new configuration. Changed detector or bucket options start a new
   * enforcer (baselines are learned again; the rules come back with the
   * control plane's next full set — until then the ingress fails open).
   */
  configure(cfg: LegitimacyConfig): void {
    this.maxPending = 4 * cfg.capacity;
    const key = JSON.stringify(enforcerOptions(cfg));
    if (key === this.optsKey) return;
    this.optsKey = key;
    const wasAttack = this.en.attackMode;
    this.en = this.make(cfg);
    if (wasAttack) this.onAttackChange?.(false, undefined);
  }

  /** Admission of a new TCP connection, before its first byte. */
  admitConnection(source: string): boolean {
    return this.en.passConnection(source);
  }

  /** A UDP datagram from a client; `established`: it belongs to an authenticated association whose client port is known. */
  admitDatagram(source: string, established: boolean): boolean {
    if (established) return this.en.admitDatagram(source, true).allow;
    return this.en.passDatagram(source);
  }

  /** A UDP datagram that is dropped anyway (not from the association's client): load, not a decision. */
  observeUdp(): void {
    this.en.observe('udp');
  }

  /** An authentication failure (a detector signal). */
  authFailed(): void {
    this.en.observe('authFail');
  }

  /** An accepted flow: a session that authenticated (its source cannot be spoofed). */
  accepted(source: string): void {
    const key = prefixKey(source);
    if (key === undefined) return;
    this.recorded++;
    const n = this.pending.get(key);
    if (n !== undefined) this.pending.set(key, n + 1);
    else if (this.pending.size < this.maxPending) this.pending.set(key, 1);
    else return void this.droppedEvidence++;
    this.pendingFlows++;
  }

  /** Take the buffered evidence (prefix → flows). */
  drainEvidence(): Array<[string, number]> {
    if (this.pendingFlows === 0) return [];
    const out = [...this.pending];
    this.pending = new Map();
    this.pendingFlows = 0;
    return out;
  }

  /** Apply a rule message from the control plane (directly, or relayed by the primary). */
  apply(msg: RuleMessage): RulesAck {
    return this.en.apply(msg);
  }

  /** Close the ticks that ended (attack mode may end here on a quiet ingress). */
  advance(): void {
    this.en.detector.advance(this.now());
  }
}

/**
 * The wire shapes of source legitimacy (docs/LEGITIMACY.md) that the control
 * protocol carries (shared/control-protocol.ts). They live here, below both
 * sides, so the protocol need not import the legitimacy layer; the checks and
 * the logic stay in src/legitimacy/, which re-exports these types.
 */

/**
 * The rules for one ingress. Lookup is longest-prefix match over the three
 * lists together; an address matching none is `unknown`. The lists never hold
 * the same CIDR twice.
 *
 * `revision` increases with every new content (the control plane uses its
 * wall clock in ms, at least previous + 1, so it survives restarts). After
 * `expiresAt` (wall clock ms) without a refresh the ingress fails open: it
 * treats every source as if no rules existed. `suspended: true` carries no
 * entries and means the same (a network event: limits off until learning
 * re-converges).
 */
export interface RuleSet {
  v: 1;
  type: 'legitimacy.rules';
  group: string;
  ingressId: string;
  revision: number;
  issuedAt: number;
  expiresAt: number;
  suspended: boolean;
  /** Why the rules are suspended (`warmup`, `ingress-down fra-2`, `shift at ams-1 …`); empty when active. */
  reason: string;
  expected: string[];
  unlikely: string[];
  unlikelyViaParent: string[];
}

/** Extends the expiry of the rule set with this revision (sent every round instead of the whole set when nothing changed). */
export interface RuleRefresh {
  v: 1;
  type: 'legitimacy.refresh';
  group: string;
  ingressId: string;
  revision: number;
  expiresAt: number;
}

/**
 * The ingress's answer. `ok: false` (NACK) leaves the previous rule set in
 * force (until its own expiry); the control plane then sends the whole set
 * again under a new revision at its next round.
 */
export interface RulesAck {
  v: 1;
  type: 'legitimacy.ack';
  ingressId: string;
  revision: number;
  ok: boolean;
  reason?: string;
}

export interface EvidenceReport {
  /** Message format version. */
  v: 1;
  ingressId: string;
  /** Process incarnation; `seq` restarts with a new epoch. */
  epoch: number;
  /** 1, 2, 3… within the epoch. */
  seq: number;
  /** Wall-clock ms (Unix epoch) of the interval's start and end. */
  intervalStart: number;
  intervalEnd: number;
  /** `[prefix, accepted flows]`, most flows first; counts are lower bounds when `truncated`. */
  counts: Array<[string, number]>;
  /** Accepted flows in the interval, including those whose prefix was not kept. */
  total: number;
  /** Some prefixes lost their slot in the bounded table (their flows are in `dropped`). */
  truncated: boolean;
  /** Flows not attributed to any reported prefix (`total − Σ counts`). */
  dropped: number;
  /** Learning was paused for some of the interval (attack mode / operator): use for shift detection only. */
  paused: boolean;
}

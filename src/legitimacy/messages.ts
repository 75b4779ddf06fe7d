/**
 * Wire messages of the legitimacy feature (JSON on the control plane's config
 * stream). Reports flow ingress → control plane ({@link EvidenceReport} in
 * evidence.ts); rule sets and refreshes flow control plane → ingress, and the
 * ingress answers each with an {@link RulesAck}. See docs/LEGITIMACY.md.
 */
import { parseCidr } from './prefix.js';

/** How plausible a source is at one ingress. `unknown` (no evidence) is never treated as unlikely. */
export type SourceClass = 'expected' | 'unlikely' | 'unlikely-via-parent' | 'unknown';
export const SOURCE_CLASSES: readonly SourceClass[] = ['expected', 'unlikely', 'unlikely-via-parent', 'unknown'];

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

export type RuleMessage = RuleSet | RuleRefresh;

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

/** A network event that suspends the rules of the whole group. */
export type NetworkEvent =
  | { type: 'ingress-down'; ingressId: string; reason?: string }
  | { type: 'ingress-up'; ingressId: string; reason?: string }
  /** An operator's announcement (e.g. a route withdrawn, a new transit): suspend for at least `holdMs`. */
  | { type: 'operator'; reason: string; holdMs?: number };

/** A message for one ingress. */
export interface Outbound {
  to: string;
  msg: RuleMessage;
}

/** Structural check of a rule message (what an ingress runs before it ACKs). Returns a reason, or undefined when fine. */
export function checkRuleMessage(m: unknown, maxEntries = 1_000_000): string | undefined {
  if (typeof m !== 'object' || m === null) return 'not an object';
  const o = m as Record<string, unknown>;
  if (o.v !== 1) return 'unsupported version';
  if (o.type !== 'legitimacy.rules' && o.type !== 'legitimacy.refresh') return 'unknown type';
  if (typeof o.group !== 'string' || typeof o.ingressId !== 'string') return 'group/ingressId';
  if (!Number.isSafeInteger(o.revision) || (o.revision as number) < 0) return 'revision';
  if (typeof o.expiresAt !== 'number' || !Number.isFinite(o.expiresAt)) return 'expiresAt';
  if (o.type === 'legitimacy.refresh') return undefined;
  if (typeof o.issuedAt !== 'number' || typeof o.suspended !== 'boolean' || typeof o.reason !== 'string') return 'fields';
  let n = 0;
  const seen = new Set<string>();
  for (const k of ['expected', 'unlikely', 'unlikelyViaParent'] as const) {
    const l = o[k];
    if (!Array.isArray(l)) return k;
    n += l.length;
    if (n > maxEntries) return 'too many entries';
    for (const c of l) {
      const p = typeof c === 'string' && c.includes('/') ? parseCidr(c) : undefined;
      if (!p) return `bad CIDR in ${k}`;
      const canon = `${p.family}:${String(p.net)}/${p.bits}`;
      if (seen.has(canon)) return `duplicate CIDR ${c}`;
      seen.add(canon);
    }
  }
  if (o.suspended && n > 0) return 'suspended rules carry no entries';
  return undefined;
}

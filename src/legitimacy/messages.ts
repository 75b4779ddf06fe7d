/**
 * Wire messages of the legitimacy feature (JSON on the control plane's config
 * stream). Reports flow ingress → control plane ({@link EvidenceReport} in
 * evidence.ts); rule sets and refreshes flow control plane → ingress, and the
 * ingress answers each with an {@link RulesAck}. See docs/LEGITIMACY.md.
 */
import { parseCidr } from './prefix.js';
import type { RuleRefresh, RuleSet } from '../shared/legitimacy-wire.js';

/** The wire shapes live in shared (the control protocol carries them); re-exported for this layer's users. */
export type { RuleRefresh, RuleSet, RulesAck } from '../shared/legitimacy-wire.js';

/** How plausible a source is at one ingress. `unknown` (no evidence) is never treated as unlikely. */
export type SourceClass = 'expected' | 'unlikely' | 'unlikely-via-parent' | 'unknown';
export const SOURCE_CLASSES: readonly SourceClass[] = ['expected', 'unlikely', 'unlikely-via-parent', 'unknown'];

export type RuleMessage = RuleSet | RuleRefresh;

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

/**
 * Distribution of the rules to the ingresses (analysis.ts): a full rule set
 * when the content changed and the publish gap allows (suspensions and
 * resumptions at once), a refresh of the expiry otherwise; ACKs and NACKs
 * (a NACK makes the next round send the whole set again, new revision).
 */
import { EMPTY_RULES, signature, unpack, type PackedRules } from './packed-rules.js';
import type { IngressState } from './ingress-state.js';
import type { Outbound, RuleSet, RulesAck } from './messages.js';

export interface PublishOptions {
  group: string;
  ruleTtlMs: number;
  publishGapMs: number;
}

/** Revisions grow, and follow the wall clock so a restarted control plane does not reuse one. */
function nextRevision(s: IngressState, now: number): number {
  s.revision = Math.max(s.revision + 1, Math.floor(now));
  return s.revision;
}

/** A full rule set for an ingress (empty lists when suspended), recorded as sent. */
export function fullMessage(o: PublishOptions, s: IngressState, packed: PackedRules | undefined, now: number, suspended: boolean, reason: string, sig?: string): RuleSet {
  const p = packed ?? EMPTY_RULES;
  const c = suspended ? undefined : unpack(p);
  const rs: RuleSet = {
    v: 1,
    type: 'legitimacy.rules',
    group: o.group,
    ingressId: s.id,
    revision: nextRevision(s, now),
    issuedAt: now,
    expiresAt: now + o.ruleTtlMs,
    suspended,
    reason: suspended ? reason : '',
    expected: suspended || !c ? [] : c.expected,
    unlikely: suspended || !c ? [] : c.unlikely,
    unlikelyViaParent: suspended || !c ? [] : c.unlikelyViaParent,
  };
  s.sentSuspended = suspended;
  s.sentSig = suspended ? '' : (sig ?? signature(p));
  s.needFull = false;
  if (!suspended) s.lastContentAt = now;
  return rs;
}

export function refreshMessage(o: PublishOptions, s: IngressState, now: number): Outbound['msg'] {
  return { v: 1, type: 'legitimacy.refresh', group: o.group, ingressId: s.id, revision: s.revision, expiresAt: now + o.ruleTtlMs };
}

/**
 * The message of one round for an ingress, given its candidate rules: while
 * not active a suspended set (once) then refreshes; when active the new
 * content if it changed (at most every publish gap, at once after a
 * resumption, a NACK or a suspension), else a refresh.
 */
export function roundMessage(o: PublishOptions, s: IngressState, c: PackedRules, now: number, active: boolean, resumed: boolean, reason: string): Outbound['msg'] {
  if (!active) {
    if (!s.sentSuspended || s.needFull || s.revision === 0) return fullMessage(o, s, c, now, true, reason);
    return refreshMessage(o, s, now);
  }
  const sig = signature(c);
  const changed = sig !== s.sentSig || s.sentSuspended;
  const gapOk = Number.isNaN(s.lastContentAt) || now - s.lastContentAt >= o.publishGapMs;
  if (resumed || s.needFull || (changed && (gapOk || s.sentSuspended))) return fullMessage(o, s, c, now, false, reason, sig);
  return refreshMessage(o, s, now);
}

/** An ingress's ACK or NACK. */
export function applyAck(s: IngressState, a: RulesAck): void {
  if (a.ok) s.ackedRevision = Math.max(s.ackedRevision, a.revision);
  else {
    s.nacks++;
    s.needFull = true;
  }
}

/** Keep only the last message per ingress. */
export function dedupeLast(out: Outbound[]): Outbound[] {
  const last = new Map<string, Outbound>();
  for (const o of out) last.set(o.to, o);
  return [...last.values()];
}

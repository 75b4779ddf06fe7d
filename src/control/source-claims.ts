/**
 * Customers' source ranges on the control plane (rules: src/shared/source-range.ts).
 * On the way in (inside the writing transaction): a source-auth customer's ranges
 * are within the floor and overlap no other source-auth customer's. On the way
 * out (rendering): rows stored before these rules existed are made safe: ranges
 * that break them are dropped, and two source-auth customers whose ranges overlap
 * both lose source auth (their ranges stay, as password restrictions), each with
 * a warning, so old data can never keep the network an open proxy.
 */
import type { Transaction } from 'kysely';
import type { DB } from './tables.js';
import { ApiError } from './errors.js';
import { parseJson } from './store/json-columns.js';
import { findClaimConflicts, sourceRangeProblem } from '../shared/source-range.js';

/** What a source-auth customer's claim needs of a customer record. */
export interface SourceHolder {
  readonly id: string;
  readonly login: string;
  readonly sources: readonly string[];
  readonly sourceAuth: boolean;
}

/**
 * Refuse (400) a source-auth customer whose ranges break the floor or overlap another
 * source-auth customer's. `revealOwner`: operators learn who holds the other range; a
 * customer learns only the range. Writers are serialized by the revision row, so two
 * concurrent claims cannot both pass.
 */
export async function checkSourceClaim(trx: Transaction<DB>, me: SourceHolder, revealOwner: boolean): Promise<void> {
  if (!me.sourceAuth) return;
  for (const [i, text] of me.sources.entries()) {
    const problem = sourceRangeProblem(text);
    if (problem) throw new ApiError(400, 'invalid_request', `sources.${i}: ${problem}`, `body.sources.${i}`);
  }
  const others = await trx.selectFrom('customers').select(['id', 'login', 'sources']).where('source_auth', '=', 1).where('id', '!=', me.id).execute();
  const claims = [{ owner: me.id, ranges: me.sources }, ...others.map((o) => ({ owner: o.id, ranges: usable(parseJson<string[]>(o.sources, [])) }))];
  for (const k of findClaimConflicts(claims)) {
    if (k.owner !== me.id && k.otherOwner !== me.id) continue; // stored before the rule; the renderer keeps it harmless
    const [mine, theirs, theirId] = k.owner === me.id ? [k.range, k.otherRange, k.otherOwner] : [k.otherRange, k.range, k.owner];
    const who = revealOwner ? ` of customer '${others.find((o) => o.id === theirId)?.login ?? theirId}'` : '';
    throw new ApiError(
      400,
      'source_conflict',
      `source ${mine} overlaps ${theirs}${who}, a range another customer uses without a password: a connection from there could not tell who it is`,
      `body.sources.${me.sources.indexOf(mine)}`,
    );
  }
}

/** Ranges that keep the rules (old rows may hold others: the renderer drops those, so they claim nothing). */
const usable = (ranges: readonly string[]): string[] => ranges.filter((r) => sourceRangeProblem(r) === undefined);

/** A customer's sources as rendered for the ingress. */
export interface RenderedSources {
  readonly sources: string[];
  readonly sourceAuth: boolean;
  /** Every range matched no connection (unspecified, multicast…): render suspended, not widened to "anywhere". */
  readonly suspend: boolean;
}

/**
 * Drop what breaks the rules; `conflicts` (from sourceAuthConflicts) turns source auth off.
 * A customer left with no range because every one was too broad gets no restriction (what
 * such a range nearly meant) and no source auth; one whose ranges matched nobody is suspended.
 */
export function renderSources(c: SourceHolder, conflicts: ReadonlyMap<string, string> | undefined, warnings?: string[]): RenderedSources {
  const kept: string[] = [];
  let onlyBroad = true;
  for (const text of c.sources) {
    const problem = sourceRangeProblem(text);
    if (problem === undefined) {
      kept.push(text);
      continue;
    }
    if (!/too broad/.test(problem)) onlyBroad = false;
    warnings?.push(`customer '${c.login}': source ${text} dropped: ${problem}`);
  }
  let sourceAuth = c.sourceAuth && kept.length > 0;
  const conflict = conflicts?.get(c.id);
  if (sourceAuth && conflict !== undefined) {
    sourceAuth = false;
    warnings?.push(conflict);
  }
  return { sources: kept, sourceAuth, suspend: c.sources.length > 0 && kept.length === 0 && !onlyBroad };
}

/** Source-auth customers whose (rule-abiding) ranges overlap another's: id → the warning saying so. */
export function sourceAuthConflicts(customers: Iterable<SourceHolder>): Map<string, string> {
  const byId = new Map<string, SourceHolder>();
  const claims = [];
  for (const c of customers) {
    if (!c.sourceAuth) continue;
    byId.set(c.id, c);
    claims.push({ owner: c.id, ranges: usable(c.sources) });
  }
  const out = new Map<string, string>();
  const note = (id: string, range: string, otherId: string, otherRange: string): void => {
    if (out.has(id)) return;
    out.set(id, `customer '${byId.get(id)!.login}': source ${range} overlaps ${otherRange} of customer '${byId.get(otherId)!.login}'; source auth is off for both until one changes`);
  };
  for (const k of findClaimConflicts(claims)) {
    note(k.owner, k.range, k.otherOwner, k.otherRange);
    note(k.otherOwner, k.otherRange, k.owner, k.range);
  }
  return out;
}

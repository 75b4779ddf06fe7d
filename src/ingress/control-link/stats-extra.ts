/**
 * Login outcomes and target domains per minute, beside the usage records
 * (stats.ts): what they are counted under, and the bounds that keep a
 * credential-guessing flood from many sources, or a customer reaching millions
 * of random names, from growing memory.
 *
 * - Logins: per (customer, source prefix, outcome). The customer is the one the
 *   attempt named when it exists, else '' (never the attacker's string); the
 *   prefix is the /24 or /48. Past MAX_LOGIN_KEYS distinct keys in one minute (or
 *   MAX_FAILED_LOGIN_KEYS of failures), new prefixes count under '(other)' (keys then
 *   grow only with customers × outcomes).
 * - Domains: per (customer, registrable-ish domain). Each customer-minute keeps
 *   at most DOMAIN_TOP_K names; a new one past that evicts the one with the
 *   fewest bytes into '(other)' (space-saving: the heavy names stay).
 *
 * Unlike usage, these open minutes are not checkpointed: they close when the
 * minute ends, so the top-K bound holds per minute in the database too. A kill -9
 * loses at most the open minute of them (usage and quotas lose seconds).
 */
import { isIP } from 'node:net';
import { OTHER_BUCKET, type LoginOutcome } from '../../shared/control-protocol.js';
import { prefixKey } from '../../legitimacy/prefix.js';
import type { TargetAddress } from '../../protocol/address.js';

/** Most domains kept per customer per minute (per ingress); the rest fold into '(other)'. */
export const DOMAIN_TOP_K = 100;
/** Most (customer, prefix, outcome) keys per minute before prefixes fold into '(other)'. */
export const MAX_LOGIN_KEYS = 4096;
/**
 * Of those, most keys of failed attempts: anyone can fail from any source (an IPv6 /32 holds
 * 65,536 /48s), and every key is a database row kept for the retention period.
 */
export const MAX_FAILED_LOGIN_KEYS = 256;

/** [minute, login, domain, up, down, connections] */
export type DomainMeterRow = [string, string, string, number, number, number];
/** [minute, login, prefix, outcome, count] */
export type LoginMeterRow = [string, string, string, LoginOutcome, number];

/** Second-level labels under a two-letter country TLD that are not themselves registrable (co.uk, com.au…). */
const GENERIC_SLD = new Set(['co', 'com', 'net', 'org', 'gov', 'edu', 'ac', 'ne', 'or', 'go', 'gob', 'mil', 'nic', 'ltd', 'plc']);

/**
 * What a target counts under: the lower-cased registrable-ish domain (the last two
 * labels, three under co.uk-like suffixes; not the Public Suffix List), or 'ip'.
 */
export function domainOf(target: Pick<TargetAddress, 'host' | 'kind'>): string {
  if (target.kind !== 'domain' || isIP(target.host) !== 0) return 'ip';
  const h = target.host.toLowerCase().replace(/\.+$/, '');
  // Every front checks name syntax already; this keeps the counted string plain whatever the path.
  if (h.length === 0 || h.length > 253 || !/^[a-z0-9_.-]+$/.test(h)) return OTHER_BUCKET;
  const labels = h.split('.');
  if (labels.length <= 2) return h;
  const tld = labels.at(-1)!;
  const sld = labels.at(-2)!;
  const n = tld.length === 2 && GENERIC_SLD.has(sld) ? 3 : 2;
  return labels.slice(-n).join('.');
}

/** The source /24 or /48 (IPv4-mapped counts as IPv4); '(other)' for what is not an address. */
export function sourcePrefix(source: string): string {
  return prefixKey(source) ?? OTHER_BUCKET;
}

/** A refusal's code as a login outcome; `known`: the named customer exists. */
export function loginOutcome(code: string, known: boolean): LoginOutcome {
  switch (code) {
    case 'AUTH_FAILED':
      return known ? 'bad_password' : 'unknown_user';
    case 'AUTH_REQUIRED':
      return 'no_password';
    case 'USERNAME_INVALID':
      return 'bad_username';
    case 'SOURCE_NOT_ALLOWED':
      return 'source_not_allowed';
    case 'USER_SUSPENDED':
      return 'suspended';
    case 'RATE_LIMITED':
      return 'rate_limited';
    default:
      return 'other';
  }
}

type Counts = [up: number, down: number, connections: number];

/** One customer-minute's domains: at most `cap` names plus '(other)'. */
export class DomainTally {
  readonly named = new Map<string, Counts>();
  other: Counts | undefined;

  constructor(private readonly cap = DOMAIN_TOP_K) {}

  add(domain: string, up: number, down: number, conns: number): void {
    let c = domain === OTHER_BUCKET ? (this.other ??= [0, 0, 0]) : this.named.get(domain);
    if (!c) {
      if (this.named.size >= this.cap) this.evictSmallest();
      this.named.set(domain, (c = [0, 0, 0]));
    }
    c[0] += up;
    c[1] += down;
    c[2] += conns;
  }

  /** Fold the name with the fewest bytes (then connections) into '(other)'. O(cap), only when full. */
  private evictSmallest(): void {
    let minKey: string | undefined;
    let min: Counts | undefined;
    for (const [k, c] of this.named) {
      if (!min || c[0] + c[1] < min[0] + min[1] || (c[0] + c[1] === min[0] + min[1] && c[2] < min[2])) [minKey, min] = [k, c];
    }
    if (minKey === undefined || !min) return;
    this.named.delete(minKey);
    const o = (this.other ??= [0, 0, 0]);
    o[0] += min[0];
    o[1] += min[1];
    o[2] += min[2];
  }

  *entries(): Generator<[string, number, number, number]> {
    for (const [k, c] of this.named) yield [k, c[0], c[1], c[2]];
    if (this.other) yield [OTHER_BUCKET, this.other[0], this.other[1], this.other[2]];
  }
}

/** Login counts of one window (a minute, or a meter batch), bounded in keys. */
export class LoginTally {
  readonly counts = new Map<string, LoginMeterRow>();
  private failedKeys = 0;

  constructor(
    private readonly maxKeys = MAX_LOGIN_KEYS,
    private readonly maxFailedKeys = MAX_FAILED_LOGIN_KEYS,
  ) {}

  add(minute: string, login: string, prefix: string, outcome: LoginOutcome, n: number): void {
    let key = `${minute}\0${login}\0${prefix}\0${outcome}`;
    let row = this.counts.get(key);
    const failed = outcome !== 'ok';
    if (!row && prefix !== OTHER_BUCKET && (this.counts.size >= this.maxKeys || (failed && this.failedKeys >= this.maxFailedKeys))) {
      prefix = OTHER_BUCKET;
      key = `${minute}\0${login}\0${prefix}\0${outcome}`;
      row = this.counts.get(key);
    }
    if (row) row[4] += n;
    else {
      this.counts.set(key, [minute, login, prefix, outcome, n]);
      if (failed) this.failedKeys++;
    }
  }
}

/** Open minutes of domains and logins (one per node, in the ledger). */
export class ExtraMinutes {
  /** minute → login → tally */
  private readonly domains = new Map<string, Map<string, DomainTally>>();
  /** minute → tally */
  private readonly logins = new Map<string, LoginTally>();

  addDomains(rows: readonly DomainMeterRow[]): void {
    for (const [minute, login, domain, up, down, conns] of rows) {
      let byLogin = this.domains.get(minute);
      if (!byLogin) this.domains.set(minute, (byLogin = new Map<string, DomainTally>()));
      let t = byLogin.get(login);
      if (!t) byLogin.set(login, (t = new DomainTally()));
      t.add(domain, up, down, conns);
    }
  }

  addLogins(rows: readonly LoginMeterRow[]): void {
    for (const [minute, login, prefix, outcome, n] of rows) {
      let t = this.logins.get(minute);
      if (!t) this.logins.set(minute, (t = new LoginTally()));
      t.add(minute, login, prefix, outcome, n);
    }
  }

  /** Open entries (domain names + login keys), for the ledger's stats. */
  get size(): number {
    let n = 0;
    for (const byLogin of this.domains.values()) for (const t of byLogin.values()) n += t.named.size + (t.other ? 1 : 0);
    for (const t of this.logins.values()) n += t.counts.size;
    return n;
  }

  /**
   * Close the minutes before `cutoff` (all with `all`), as records without their
   * sequence numbers: [kind, minute, …] in the order the ledger numbers them.
   */
  close(cutoff: string, all: boolean): Array<['domain', string, string, string, number, number, number] | ['login', string, string, string, LoginOutcome, number]> {
    const out: Array<['domain', string, string, string, number, number, number] | ['login', string, string, string, LoginOutcome, number]> = [];
    for (const [minute, byLogin] of this.domains) {
      if (!all && minute >= cutoff) continue;
      this.domains.delete(minute);
      for (const [login, t] of byLogin) for (const [d, up, down, conns] of t.entries()) out.push(['domain', minute, login, d, up, down, conns]);
    }
    for (const [minute, t] of this.logins) {
      if (!all && minute >= cutoff) continue;
      this.logins.delete(minute);
      for (const [, login, prefix, outcome, n] of t.counts.values()) out.push(['login', minute, login, prefix, outcome, n]);
    }
    return out;
  }
}

/**
 * What the control plane and an ingress say to each other (docs/CONTROL.md,
 * "Config stream" and "Statistics"). No imports beyond types: both sides and
 * the tests load it.
 *
 * Config stream: `GET /v1/stream?revision=N` with `Authorization: Bearer <ingress token>`
 * answers `application/x-ndjson`, one StreamMessage per line, for as long as the
 * connection lives: `hello`, one `snapshot`, then `delta`s in revision order and
 * `ping`s. The ingress acknowledges each applied revision with
 * `POST /v1/stream/ack {"revision":N,"adminUrl":"http://…"}` (same token).
 *
 * Statistics: the control plane pulls `GET <adminUrl>/v1/stats?after=EPOCH:SEQ`
 * with `Authorization: Bearer <pullToken from hello>`; the answer is a StatsPull.
 */

import type { EvidenceReport, RuleRefresh, RuleSet, RulesAck } from './legitimacy-wire.js';

/** A user or exit as the rendered ingress configuration writes it (input form: defaults left out). */
export type ConfigObject = Record<string, unknown>;

export interface HelloMessage {
  readonly type: 'hello';
  readonly node: string;
  /** The control plane's revision when the stream opened. */
  readonly revision: number;
  /** Bearer token the control plane will present when it pulls this node's statistics. */
  readonly pullToken: string;
  /** A ping (or any line) comes at least this often; silence for 3× means the stream is dead. */
  readonly heartbeatMs: number;
  /** The answering control-plane process (replicas tell themselves apart by it). */
  readonly replica: string;
  /** Source legitimacy runs on this control plane: the group, and how often to send evidence reports (from MIN_REPORT_INTERVAL_MS). */
  readonly legitimacy?: { readonly group: string; readonly reportIntervalMs: number };
}

/** The shortest evidence report interval an ingress takes from a `hello` (not a flood of posts); `hopgate control` refuses a shorter one. */
export const MIN_REPORT_INTERVAL_MS = 100;

export interface SnapshotMessage {
  readonly type: 'snapshot';
  readonly revision: number;
  /** The whole rendered ingress configuration (IngressConfigInput), as GET /v1/ingress-config serves it. */
  readonly config: ConfigObject & { users: ConfigObject[]; exits: ConfigObject[] };
  readonly warnings?: string[];
}

export interface DeltaMessage {
  readonly type: 'delta';
  readonly revision: number;
  /** The revision this delta applies to; an ingress at another revision reconnects for a snapshot. */
  readonly from: number;
  /** Users to add or replace whole (by login), and logins to remove. */
  readonly users?: { readonly upsert: ConfigObject[]; readonly delete: string[] };
  /** When present: the new complete exit list. */
  readonly exits?: ConfigObject[];
  /** When present: every top-level settings key (listen, limits, …) as now stored; absent keys take defaults. */
  readonly settings?: ConfigObject;
  readonly warnings?: string[];
}

export interface PingMessage {
  readonly type: 'ping';
  readonly revision: number;
}

/** Source legitimacy on the stream (docs/LEGITIMACY.md): a rule set or a refresh of its expiry, for this ingress. */
export type LegitimacyStreamMessage = RuleSet | RuleRefresh;

export type StreamMessage = HelloMessage | SnapshotMessage | DeltaMessage | PingMessage | LegitimacyStreamMessage;

/**
 * What an ingress says about source legitimacy: `POST /v1/stream/legitimacy` (ingress token),
 * every report interval and at once after a rule message. Reports stay queued on the ingress
 * until an answer lists them (idempotent on ingressId + epoch + seq).
 */
export interface LegitimacyPostBody {
  readonly reports?: EvidenceReport[];
  /** ACK/NACK of rule sets and refreshes received on the stream. */
  readonly acks?: RulesAck[];
  readonly status?: LegitimacyStatus;
}

/** The ingress's side, for GET /v1/legitimacy on the control plane. */
export interface LegitimacyStatus {
  /** In attack mode (any worker). */
  readonly attack: boolean;
  readonly rulesActive: boolean;
  readonly suspended: boolean;
  readonly revision: number;
  readonly reason: string;
  /** Admission decisions limited so far (all workers this process heard of). */
  readonly limited: number;
}

export interface LegitimacyPostAnswer {
  /** Reports the control plane has (new, duplicate or stale): stop resending them. */
  readonly acked: Array<{ ingressId: string; epoch: number; seq: number }>;
  /** false: this control plane runs no legitimacy analysis (reports are acknowledged and dropped). */
  readonly enabled: boolean;
}

export interface AckBody {
  readonly revision: number;
  /** Where this ingress answers statistics pulls, e.g. http://10.0.0.5:7790. */
  readonly adminUrl?: string;
  /** This node's link fingerprints: the one it presents, then a staged next one (exits pin both). */
  readonly linkFingerprints?: readonly string[];
}

/** One closed minute of one customer through one exit on one ingress: final once reported. */
export type StatsRecord = [
  seq: number,
  /** `YYYY-MM-DDTHH:MM`, UTC. */
  minute: string,
  login: string,
  /** '' for direct egress. */
  exit: string,
  bytesUp: number,
  bytesDown: number,
  connections: number,
  failures: number,
];

/** The open minute per customer (provisional: replaced by the final record once the minute closes). */
export type LiveRecord = [minute: string, login: string, exit: string, bytesUp: number, bytesDown: number, connections: number, failures: number];

/**
 * Login outcomes per minute: `login` is the customer the attempt named ('' when
 * no such customer exists: attacker-chosen names are never kept), `prefix` the
 * source /24 or /48 ('(other)' past the ingress's per-minute bound), `outcome`
 * one of LOGIN_OUTCOMES. Shares the sequence numbers of StatsRecord.
 */
export type LoginRecord = [seq: number, kind: 'login', minute: string, login: string, prefix: string, outcome: LoginOutcome, count: number];

/**
 * Traffic per customer per target domain per minute: `domain` is the lower-cased
 * registrable-ish name, 'ip' for address targets, '(other)' for what fell out of
 * the per-minute top K. Shares the sequence numbers of StatsRecord.
 */
export type DomainRecord = [seq: number, kind: 'domain', minute: string, login: string, domain: string, bytesUp: number, bytesDown: number, connections: number];

/** Every record a ledger keeps: usage (StatsRecord, `minute` second), logins and domains (a kind second). */
export type LedgerRecord = StatsRecord | LoginRecord | DomainRecord;

/** A fixed set: an outcome is never a string a client chose. */
export const LOGIN_OUTCOMES = ['ok', 'bad_password', 'unknown_user', 'no_password', 'bad_username', 'source_not_allowed', 'suspended', 'rate_limited', 'other'] as const;
export type LoginOutcome = (typeof LOGIN_OUTCOMES)[number];

/** The domain and prefix buckets that hold what a per-minute bound folded away. */
export const OTHER_BUCKET = '(other)';

const MINUTE_KEY = /^\d{4}-\d\d-\d\dT\d\d:\d\d$/;
const OUTCOMES: ReadonlySet<unknown> = new Set(LOGIN_OUTCOMES);
const isCount = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isSeq = (v: unknown): boolean => isCount(v) && (v as number) > 0;
/** Printable ASCII only: a NUL or control byte would fail a PostgreSQL text write, and with it every pull after. */
const isText = (v: unknown, max: number): boolean => typeof v === 'string' && v.length <= max && /^[\x20-\x7e]*$/.test(v);

/**
 * A login record that fits its columns (login_minute). Hand-written, not zod: the ingress's
 * journal checks up to a million records with it on start, the control plane every pull's.
 */
export function isLoginRecord(r: unknown): r is LoginRecord {
  return Array.isArray(r) && r.length === 7 && isSeq(r[0]) && r[1] === 'login' && typeof r[2] === 'string' && MINUTE_KEY.test(r[2]) && isText(r[3], 64) && isText(r[4], 64) && OUTCOMES.has(r[5]) && isCount(r[6]);
}

/** A domain record that fits its columns (domain_minute); as isLoginRecord. */
export function isDomainRecord(r: unknown): r is DomainRecord {
  return Array.isArray(r) && r.length === 8 && isSeq(r[0]) && r[1] === 'domain' && typeof r[2] === 'string' && MINUTE_KEY.test(r[2]) && isText(r[3], 64) && isText(r[4], 256) && isCount(r[5]) && isCount(r[6]) && isCount(r[7]);
}

export interface StatsPull {
  /** The ledger's identity: sequence numbers count within one epoch. */
  readonly epoch: string;
  /** Closed records after the cursor, in sequence order. */
  readonly records: StatsRecord[];
  /** Closed login records in the same sequence range (absent: an older ingress). */
  readonly logins?: LoginRecord[];
  /** Closed domain records in the same sequence range (absent: an older ingress). */
  readonly domains?: DomainRecord[];
  /** Cursor after these records (`EPOCH:SEQ`); passing it acknowledges them. */
  readonly next: string;
  /** More records wait beyond `limit`. */
  readonly more: boolean;
  readonly live: LiveRecord[];
  /**
   * Exit health as this ingress sees it now: the ids of configured exits it takes as down
   * (probes, failed connections, a reverse exit not connected). The control plane learns
   * health-driven failover from it (docs/CONTROL.md, "Failover notices"). Absent: an older ingress.
   */
  readonly exitsDown?: string[];
  /**
   * What this node's active probes found per exit (docs/CONTROL.md, "Exit health history"):
   * the counts of the current and the previous UTC minute, summed over its workers, and the
   * latest probe. Absent: an older ingress. The control plane validates and bounds it.
   */
  readonly exitProbes?: ExitProbeReport[];
}

/** One UTC minute of probes of one exit on one node: totals so far (a later report of the same minute replaces it). */
export interface ProbeMinute {
  /** `YYYY-MM-DDTHH:MM` (UTC). */
  readonly minute: string;
  readonly ok: number;
  readonly failed: number;
  /** Sum of the successful probes' round trips, ms (mean = latencyMsSum / ok). */
  readonly latencyMsSum: number;
}

export interface LastProbe {
  /** ISO time of the probe's end. */
  readonly at: string;
  readonly ok: boolean;
  /** Round trip of a successful probe, ms. */
  readonly latencyMs: number | null;
  /** The failure's code (EXIT_UNREACHABLE, TIMEOUT…), null on success. */
  readonly error: string | null;
}

export interface ExitProbeReport {
  readonly id: string;
  readonly minutes: ProbeMinute[];
  readonly last: LastProbe | null;
}

/** `YYYY-MM-DDTHH:MM` of the UTC minute containing `ms`. */
export function minuteOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16);
}

/** Period keys a minute counts towards, in the format of QuotaTracker's periodKey. */
export function periodKeysOfMinute(minute: string): [hour: string, day: string, month: string] {
  return [`hour:${minute.slice(0, 13)}`, `day:${minute.slice(0, 10)}`, `month:${minute.slice(0, 7)}`];
}

export function parseCursor(cursor: string | undefined | null): { epoch: string; seq: number } | undefined {
  if (!cursor) return undefined;
  const i = cursor.lastIndexOf(':');
  if (i <= 0) return undefined;
  const seq = Number(cursor.slice(i + 1));
  if (!Number.isSafeInteger(seq) || seq < 0) return undefined;
  return { epoch: cursor.slice(0, i), seq };
}

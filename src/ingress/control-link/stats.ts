/**
 * Usage statistics on the ingress, per minute per (customer, exit): bytes up
 * and down, connections, failures.
 *
 * - SessionMeter (every process that relays) reads the byte counters of open
 *   sessions once a second and of each session as it closes (the
 *   `hopgate:session:close` diagnostics channel), so a long tunnel's bytes land
 *   in the minutes they moved in. It hands batches to the ledger (directly, or
 *   over IPC from a cluster worker to the primary).
 * - StatsLedger (one per node) keeps open minutes; a minute closes a few
 *   seconds after it ends (a once-a-second timer, and every pull) and becomes
 *   a record with the next sequence number. Records stay until the control
 *   plane acknowledges them, by pulling with a cursor past them; a failed pull
 *   or write just means they are sent again, and the control plane skips what
 *   it already stored (the cursor EPOCH:SEQ, ControlStore.ingestStats).
 * - Crash safety: every closed record is appended to a journal in the state
 *   dir (`stats-ledger.json`, fsynced) before any pull can see it, so a killed
 *   ingress loses no closed minute: on start the journal is read back with the
 *   same epoch and sequence numbers and offered again (the control plane's
 *   cursor makes that exactly-once). A minute still open is checkpointed too:
 *   what it counted so far becomes a record every `checkpointMs` (2 s), and
 *   the rest of the minute goes on in a new bucket (the control plane adds
 *   records up), so a kill -9 loses at most those seconds, not the minute. The journal is compacted (rewritten
 *   atomically with only the unacknowledged records) as pulls acknowledge
 *   them. A clean shutdown closes the open minutes into it too.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../shared/log.js';
import type { StateDir } from '../../shared/state-file.js';
import { readJournal, StatsJournal } from './stats-journal.js';
import { channels, subscribeFrom, type AuthFailMessage } from '../../shared/events.js';
import type { SessionCloseMessage } from '../session.js';
import { minuteOf, parseCursor, type DomainRecord, type LedgerRecord, type LiveRecord, type LoginRecord, type StatsPull, type StatsRecord } from '../../shared/control-protocol.js';
import { parseUsername } from '../../protocol/username/grammar.js';
import { domainOf, DomainTally, ExtraMinutes, loginOutcome, LoginTally, sourcePrefix, type DomainMeterRow, type LoginMeterRow } from './stats-extra.js';
import type { IngressRuntime } from '../runtime.js';
import type { Session } from '../session.js';

/** [minute, login, exit, up, down, connections, failures] */
export type MeterRow = [string, string, string, number, number, number, number];

export interface MeterBatchMsg {
  readonly type: 'hopgate:stats:batch';
  readonly rows: MeterRow[];
  readonly domains?: DomainMeterRow[];
  readonly logins?: LoginMeterRow[];
}

/** What a meter hands on each second. */
export interface MeterBatch {
  readonly rows: MeterRow[];
  readonly domains: DomainMeterRow[];
  readonly logins: LoginMeterRow[];
}

interface Bucket {
  /** When this bucket opened (ledger clock): it is checkpointed `checkpointMs` later. */
  since: number;
  minute: string;
  login: string;
  exit: string;
  up: number;
  down: number;
  connections: number;
  failures: number;
}

export interface LedgerStats {
  pending: number;
  open: number;
  /** Open domain names and login keys (bounded: stats-extra.ts). */
  openExtra: number;
  dropped: number;
}

/** Most records kept waiting for the control plane; beyond, the oldest are dropped (and counted). */
const MAX_PENDING = 1_000_000;

export { LEDGER_FILE, parseJournal } from './stats-journal.js';

export interface LedgerResume {
  /** Unacknowledged records read back (0 when the journal was absent or unusable). */
  readonly pending: number;
  readonly resumed: boolean;
  /** Where an unusable journal was moved (it was logged). */
  readonly corrupt?: string | undefined;
  /** Lines skipped: a torn last append, or lines that did not validate (logged). */
  readonly skippedLines: number;
}

export class StatsLedger {
  epoch: string;
  private nextSeq = 1;
  private readonly open = new Map<string, Bucket>();
  private readonly extra = new ExtraMinutes();
  private pending: LedgerRecord[] = [];
  dropped = 0;
  /** The journal in the state dir (undefined: in memory only). */
  private journal: StatsJournal | undefined;

  constructor(
    /** A minute closes this long after it ends (cluster workers report every second). */
    private readonly graceMs = 2500,
    private readonly now: () => number = Date.now,
    /** An open minute's counts so far are closed into a record this often (crash safety; 0: only ended minutes). */
    private readonly checkpointMs = 2000,
    /** Most records kept waiting for the control plane. */
    private readonly maxPending = MAX_PENDING,
  ) {
    this.epoch = `e${randomBytes(6).toString('hex')}`;
  }

  /** A meter's batch: usage rows, and domains and logins when it has them. */
  addBatch(b: { rows: readonly MeterRow[]; domains?: readonly DomainMeterRow[] | undefined; logins?: readonly LoginMeterRow[] | undefined }): void {
    this.add(b.rows);
    if (b.domains) this.extra.addDomains(b.domains);
    if (b.logins) this.extra.addLogins(b.logins);
  }

  add(rows: readonly MeterRow[]): void {
    for (const [minute, login, exit, up, down, conns, fails] of rows) {
      const key = `${minute}\0${login}\0${exit}`;
      let b = this.open.get(key);
      if (!b) this.open.set(key, (b = { since: this.now(), minute, login, exit, up: 0, down: 0, connections: 0, failures: 0 }));
      b.up += up;
      b.down += down;
      b.connections += conns;
      b.failures += fails;
    }
  }

  /**
   * Close every open minute that ended more than the grace ago, and checkpoint
   * those open for `checkpointMs` (all of them with `all`); the journal gets
   * the new records.
   */
  closeMinutes(all = false): void {
    const now = this.now();
    const cutoff = minuteOf(now - this.graceMs);
    const checkpoint = this.checkpointMs > 0 ? now - this.checkpointMs : -Infinity;
    const closed: LedgerRecord[] = [];
    for (const [key, b] of this.open) {
      if (!all && b.minute >= cutoff && b.since > checkpoint) continue;
      this.open.delete(key);
      closed.push([this.nextSeq++, b.minute, b.login, b.exit, b.up, b.down, b.connections, b.failures]);
    }
    for (const x of this.extra.close(cutoff, all)) closed.push([this.nextSeq++, ...x] as DomainRecord | LoginRecord);
    if (closed.length === 0) return;
    for (const r of closed) this.pending.push(r);
    this.journal?.append(closed);
    if (this.pending.length > this.maxPending) this.dropOldest(this.pending.length - this.maxPending);
  }

  /**
   * Over the waiting limit: the oldest login and domain records go first, usage records
   * (what customers are billed and limited by) only when they alone exceed it, so a
   * credential flood while the control plane is away cannot push usage out.
   */
  private dropOldest(excess: number): void {
    let extras = 0;
    const kept = this.pending.filter((r) => {
      if (extras < excess && (r[1] === 'login' || r[1] === 'domain')) return void extras++;
      return true;
    });
    const usageDrop = excess - extras;
    this.pending = usageDrop > 0 ? kept.slice(usageDrop) : kept;
    this.dropped += excess;
    this.journal?.invalidate();
  }

  /** Records up to this sequence number may be offered (on disk, or no disk to wait for). */
  private offerable(): number {
    return this.journal ? this.journal.durableSeq : this.nextSeq - 1;
  }

  /**
   * Answer a pull: `after` (EPOCH:SEQ) acknowledges everything up to SEQ of this
   * epoch; records after it are returned, at most `limit`, with the open minutes.
   * A record is offered only once it is in the journal: one the control plane
   * stored is never lost by a crash before it was written. Until then it is
   * shown with the open minutes (`live`).
   */
  pull(after: string | undefined, limit = 20_000): StatsPull {
    this.closeMinutes();
    const c = parseCursor(after);
    let from = 0;
    if (c && c.epoch === this.epoch) {
      // Acknowledged: forget them.
      let i = 0;
      while (i < this.pending.length && this.pending[i]![0] <= c.seq) i++;
      if (i > 0) {
        this.pending.splice(0, i);
        this.journal?.acknowledged(this.pending.length);
      }
      from = c.seq;
    }
    const upTo = this.offerable();
    let n = 0;
    while (n < this.pending.length && this.pending[n]![0] <= upTo) n++;
    const offered = this.pending.slice(0, Math.min(n, Math.max(1, limit)));
    const last = offered.at(-1)?.[0] ?? (c && c.epoch === this.epoch ? c.seq : from);
    const records: StatsRecord[] = [];
    const logins: LoginRecord[] = [];
    const domains: DomainRecord[] = [];
    for (const r of offered) {
      if (r[1] === 'login') logins.push(r as LoginRecord);
      else if (r[1] === 'domain') domains.push(r as DomainRecord);
      else records.push(r as StatsRecord);
    }
    const live: LiveRecord[] = [...this.open.values()].map((b) => [b.minute, b.login, b.exit, b.up, b.down, b.connections, b.failures]);
    for (let i = n; i < this.pending.length; i++) {
      const r = this.pending[i]!;
      if (r[1] !== 'login' && r[1] !== 'domain') live.push([r[1], r[2], r[3], r[4], r[5], r[6], r[7]] as LiveRecord);
    }
    return { epoch: this.epoch, records, logins, domains, next: `${this.epoch}:${last}`, more: n > offered.length, live };
  }

  stats(): LedgerStats {
    return { pending: this.pending.length, open: this.open.size, openExtra: this.extra.size, dropped: this.dropped };
  }

  /**
   * Keep the ledger in `dir` from now on: read back the journal a previous run
   * left (same epoch, same sequence numbers: the control plane stores each
   * record once) and journal every record that closes. An unusable journal is
   * moved aside (logged) and the ledger starts empty with a new epoch; an
   * unwritable directory only turns persistence off.
   */
  attach(dir: StateDir, log?: Logger): LedgerResume {
    const start = readJournal(dir, log);
    let result: LedgerResume = { pending: 0, resumed: false, skippedLines: 0, ...('corrupt' in start ? { corrupt: start.corrupt } : {}) };
    if (start.resumed) {
      this.epoch = start.resumed.epoch;
      this.nextSeq = start.resumed.nextSeq;
      this.pending = start.resumed.records;
      result = { pending: this.pending.length, resumed: true, skippedLines: start.resumed.skipped };
    }
    this.journal = new StatsJournal(dir, () => ({ epoch: this.epoch, nextSeq: this.nextSeq, pending: this.pending }), log);
    return result;
  }

  /** Resolves once every closed record is in the journal (or the journal gave up on it). */
  async flushed(): Promise<void> {
    await this.journal?.flushed();
  }

  /** Clean shutdown: close the open minutes into the journal, wait for it, let go of it. */
  async close(): Promise<void> {
    this.closeMinutes(true);
    await this.journal?.close();
    this.journal = undefined;
  }
}

/** Most domains one meter batch keeps per customer-minute (the ledger then keeps DOMAIN_TOP_K). */
const BATCH_DOMAINS = 256;

/**
 * Counts usage of this process's sessions, their target domains and login
 * outcomes, and hands them on in batches (every part bounded: stats-extra.ts).
 */
export class SessionMeter {
  private readonly seen = new WeakMap<Session, { up: number; down: number }>();
  /** Sessions whose successful login is counted. */
  private readonly loggedIn = new WeakSet<Session>();
  private batch = new Map<string, MeterRow>();
  private domains = new Map<string, DomainTally>();
  private logins = new LoginTally();
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: Array<() => void>;

  constructor(
    private readonly rt: IngressRuntime,
    private readonly sink: (batch: MeterBatch) => void,
    intervalMs = 1000,
    private readonly now: () => number = Date.now,
  ) {
    // This ingress's sessions only: another ingress in the process counts its own.
    this.unsubscribe = [
      subscribeFrom<SessionCloseMessage>(channels.sessionClose, rt, (m) => this.closed(m.session)),
      subscribeFrom<AuthFailMessage>(channels.authFail, rt, (m) => this.authFailed(m)),
    ];
    this.timer = setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
  }

  private count(s: Session, conns: number, fails: number): void {
    const login = s.principal?.user.login;
    if (login === undefined) return;
    const minute = minuteOf(this.now());
    if (!this.loggedIn.has(s)) {
      this.loggedIn.add(s);
      this.logins.add(minute, login, sourcePrefix(s.source), 'ok', 1);
    }
    const last = this.seen.get(s) ?? { up: 0, down: 0 };
    const up = s.counters.up - last.up;
    const down = s.counters.down - last.down;
    if (up === 0 && down === 0 && conns === 0 && fails === 0) return;
    this.seen.set(s, { up: s.counters.up, down: s.counters.down });
    const exit = s.exitId ?? '';
    const key = `${minute}\0${login}\0${exit}`;
    const row = this.batch.get(key);
    if (row) {
      row[3] += up;
      row[4] += down;
      row[5] += conns;
      row[6] += fails;
    } else this.batch.set(key, [minute, login, exit, up, down, conns, fails]);
    if (s.target) {
      const dk = `${minute}\0${login}`;
      let t = this.domains.get(dk);
      if (!t) this.domains.set(dk, (t = new DomainTally(BATCH_DOMAINS)));
      t.add(domainOf(s.target), up, down, conns);
    }
  }

  private closed(s: Session): void {
    const failed = s.result !== undefined && s.result !== 'ok';
    this.count(s, 1, failed ? 1 : 0);
    this.seen.delete(s);
  }

  /**
   * A refused login. Only the customer the attempt named is kept, when it exists
   * (else ''); an attempt without a username (an HTTP client asking for the challenge) is not one.
   */
  private authFailed(m: AuthFailMessage): void {
    if (!m.username) return;
    const parsed = parseUsername(m.username);
    const named = parsed.ok ? parsed.value.login : '';
    const known = named !== '' && this.rt.snapshot.usersByLogin.has(named);
    this.logins.add(minuteOf(this.now()), known ? named : '', sourcePrefix(m.source), loginOutcome(m.code, known), 1);
  }

  /** Bytes of open sessions so far, then the batch to the sink. */
  flush(): void {
    for (const s of this.rt.sessions) if (s.principal) this.count(s, 0, 0);
    if (this.batch.size === 0 && this.logins.counts.size === 0) return;
    const rows = [...this.batch.values()];
    const domains: DomainMeterRow[] = [];
    for (const [k, t] of this.domains) {
      const [minute = '', login = ''] = k.split('\0');
      for (const [d, up, down, conns] of t.entries()) domains.push([minute, login, d, up, down, conns]);
    }
    const logins = [...this.logins.counts.values()];
    this.batch = new Map();
    this.domains = new Map();
    this.logins = new LoginTally();
    this.sink({ rows, domains, logins });
  }

  stop(): void {
    clearInterval(this.timer);
    for (const u of this.unsubscribe) u();
    this.flush();
  }
}

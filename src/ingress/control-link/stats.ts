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
 *   seconds after it ends and becomes a record with the next sequence number.
 *   Records stay until the control plane acknowledges them, by pulling with a
 *   cursor past them; a failed pull or write just means they are sent again,
 *   and the control plane skips what it already stored. On a clean shutdown
 *   the ledger (open minutes closed) is saved to the state dir and resumed on
 *   start with the same epoch, so nothing is lost across a restart either.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { channels, subscribeFrom, type SessionCloseMessage } from '../../shared/events.js';
import { minuteOf, parseCursor, type LiveRecord, type StatsPull, type StatsRecord } from '../../shared/control-protocol.js';
import type { IngressRuntime } from '../runtime.js';
import type { Session } from '../session.js';

/** [minute, login, exit, up, down, connections, failures] */
export type MeterRow = [string, string, string, number, number, number, number];

export interface MeterBatchMsg {
  readonly type: 'hopgate:stats:batch';
  readonly rows: MeterRow[];
}

interface Bucket {
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
  dropped: number;
}

/** Most records kept waiting for the control plane; beyond, the oldest are dropped (and counted). */
const MAX_PENDING = 1_000_000;

export class StatsLedger {
  epoch: string;
  private nextSeq = 1;
  private readonly open = new Map<string, Bucket>();
  private pending: StatsRecord[] = [];
  dropped = 0;

  constructor(
    /** A minute closes this long after it ends (cluster workers report every second). */
    private readonly graceMs = 2500,
    private readonly now: () => number = Date.now,
  ) {
    this.epoch = `e${randomBytes(6).toString('hex')}`;
  }

  add(rows: readonly MeterRow[]): void {
    for (const [minute, login, exit, up, down, conns, fails] of rows) {
      const key = `${minute}\0${login}\0${exit}`;
      let b = this.open.get(key);
      if (!b) this.open.set(key, (b = { minute, login, exit, up: 0, down: 0, connections: 0, failures: 0 }));
      b.up += up;
      b.down += down;
      b.connections += conns;
      b.failures += fails;
    }
  }

  /** Close every open minute that ended more than the grace ago (all of them with `all`). */
  closeMinutes(all = false): void {
    const cutoff = minuteOf(this.now() - this.graceMs);
    for (const [key, b] of this.open) {
      if (!all && b.minute >= cutoff) continue;
      this.open.delete(key);
      this.pending.push([this.nextSeq++, b.minute, b.login, b.exit, b.up, b.down, b.connections, b.failures]);
    }
    if (this.pending.length > MAX_PENDING) {
      const drop = this.pending.length - MAX_PENDING;
      this.pending.splice(0, drop);
      this.dropped += drop;
    }
  }

  /**
   * Answer a pull: `after` (EPOCH:SEQ) acknowledges everything up to SEQ of this
   * epoch; records after it are returned, at most `limit`, with the open minutes.
   */
  pull(after: string | undefined, limit = 20_000): StatsPull {
    this.closeMinutes();
    const c = parseCursor(after);
    let from = 0;
    if (c && c.epoch === this.epoch) {
      // Acknowledged: forget them.
      let i = 0;
      while (i < this.pending.length && this.pending[i]![0] <= c.seq) i++;
      if (i > 0) this.pending.splice(0, i);
      from = c.seq;
    }
    const records = this.pending.slice(0, Math.max(1, limit));
    const last = records.at(-1)?.[0] ?? (c && c.epoch === this.epoch ? c.seq : from);
    const live: LiveRecord[] = [...this.open.values()].map((b) => [b.minute, b.login, b.exit, b.up, b.down, b.connections, b.failures]);
    return { epoch: this.epoch, records, next: `${this.epoch}:${last}`, more: this.pending.length > records.length, live };
  }

  stats(): LedgerStats {
    return { pending: this.pending.length, open: this.open.size, dropped: this.dropped };
  }

  /** Save everything (open minutes closed) so a restart resumes with nothing lost. */
  save(file: string): void {
    this.closeMinutes(true);
    writeFileSync(file, JSON.stringify({ format: 1, epoch: this.epoch, nextSeq: this.nextSeq, pending: this.pending }), { mode: 0o600 });
  }

  /** Resume a saved ledger (and remove the file: from here the live ledger is the truth). */
  resume(file: string): boolean {
    if (!existsSync(file)) return false;
    try {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { format: number; epoch: string; nextSeq: number; pending: StatsRecord[] };
      if (saved.format !== 1 || typeof saved.epoch !== 'string') return false;
      this.epoch = saved.epoch;
      this.nextSeq = saved.nextSeq;
      this.pending = saved.pending;
      return true;
    } finally {
      rmSync(file, { force: true });
    }
  }
}

/** Counts usage of this process's sessions and hands it on in batches. */
export class SessionMeter {
  private readonly seen = new WeakMap<Session, { up: number; down: number }>();
  private batch = new Map<string, MeterRow>();
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly rt: IngressRuntime,
    private readonly sink: (rows: MeterRow[]) => void,
    intervalMs = 1000,
    private readonly now: () => number = Date.now,
  ) {
    // This ingress's sessions only: another ingress in the process counts its own.
    this.unsubscribe = subscribeFrom<SessionCloseMessage>(channels.sessionClose, rt, (m) => this.closed(m.session));
    this.timer = setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
  }

  private count(s: Session, conns: number, fails: number): void {
    const login = s.principal?.user.login;
    if (login === undefined) return;
    const last = this.seen.get(s) ?? { up: 0, down: 0 };
    const up = s.counters.up - last.up;
    const down = s.counters.down - last.down;
    if (up === 0 && down === 0 && conns === 0 && fails === 0) return;
    this.seen.set(s, { up: s.counters.up, down: s.counters.down });
    const minute = minuteOf(this.now());
    const exit = s.exitId ?? '';
    const key = `${minute}\0${login}\0${exit}`;
    const row = this.batch.get(key);
    if (row) {
      row[3] += up;
      row[4] += down;
      row[5] += conns;
      row[6] += fails;
    } else this.batch.set(key, [minute, login, exit, up, down, conns, fails]);
  }

  private closed(s: Session): void {
    const failed = s.result !== undefined && s.result !== 'ok';
    this.count(s, 1, failed ? 1 : 0);
    this.seen.delete(s);
  }

  /** Bytes of open sessions so far, then the batch to the sink. */
  flush(): void {
    for (const s of this.rt.sessions) if (s.principal) this.count(s, 0, 0);
    if (this.batch.size === 0) return;
    const rows = [...this.batch.values()];
    this.batch = new Map();
    this.sink(rows);
  }

  stop(): void {
    clearInterval(this.timer);
    this.unsubscribe();
    this.flush();
  }
}

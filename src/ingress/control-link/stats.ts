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
 *   cursor makes that exactly-once). The journal is compacted (rewritten
 *   atomically with only the unacknowledged records) as pulls acknowledge
 *   them. A clean shutdown closes the open minutes into it too.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { z } from 'zod';
import type { Logger } from '../../shared/log.js';
import { moveAside, type StateDir } from '../../shared/state-file.js';
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

/** The journal's name in the state dir. */
export const LEDGER_FILE = 'stats-ledger.json';

const Count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const RecordSchema = z.tuple([z.number().int().positive().max(Number.MAX_SAFE_INTEGER), z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d$/), z.string().max(1024), z.string().max(1024), Count, Count, Count, Count]);
const Epoch = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
/** First line of the journal. */
const HeaderSchema = z.object({ format: z.literal(2), epoch: Epoch, nextSeq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER) });
/** Every other line: a batch of records, as they closed. */
const BatchSchema = z.array(RecordSchema);
/** The whole-file format of earlier versions (written on a clean shutdown only). */
const LegacySchema = z.object({ format: z.literal(1), epoch: Epoch, nextSeq: z.number().int().positive(), pending: BatchSchema });

/** Records per journal line when the journal is rewritten. */
const LINE_RECORDS = 5_000;

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
  private pending: StatsRecord[] = [];
  dropped = 0;
  /** The journal (undefined: in memory only). */
  private dir: StateDir | undefined;
  private fd: number | undefined;
  /** Records in the journal file, acknowledged or not (compaction rewrites it with `pending` only). */
  private inFile = 0;
  /** The journal missed something (a failed append, dropped records): the next write rewrites it whole. */
  private needsRewrite = false;

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

  /** Close every open minute that ended more than the grace ago (all of them with `all`), journaling the new records first. */
  closeMinutes(all = false): void {
    const cutoff = minuteOf(this.now() - this.graceMs);
    const closed: StatsRecord[] = [];
    for (const [key, b] of this.open) {
      if (!all && b.minute >= cutoff) continue;
      this.open.delete(key);
      closed.push([this.nextSeq++, b.minute, b.login, b.exit, b.up, b.down, b.connections, b.failures]);
    }
    if (closed.length === 0) return;
    for (const r of closed) this.pending.push(r);
    if (this.pending.length > MAX_PENDING) {
      const drop = this.pending.length - MAX_PENDING;
      this.pending.splice(0, drop);
      this.dropped += drop;
      this.needsRewrite = true;
    }
    this.journal(closed);
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
      if (i > 0) {
        this.pending.splice(0, i);
        this.compactIfWorth();
      }
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

  /**
   * Keep the ledger in `dir` from now on: read back the journal a previous run
   * left (same epoch, same sequence numbers: the control plane stores each
   * record once), rewrite it compacted, and journal every record that closes.
   * An unusable journal is moved aside (logged) and the ledger starts empty
   * with a new epoch; an unwritable directory only turns persistence off.
   */
  attach(dir: StateDir, log?: Logger): LedgerResume {
    this.dir = dir;
    const file = dir.path(LEDGER_FILE);
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log?.error({ file, err: (err as Error).message }, 'statistics journal unreadable; starting a new one');
    }
    let result: LedgerResume = { pending: 0, resumed: false, skippedLines: 0 };
    if (text !== undefined) {
      const read = parseJournal(text);
      if (read.ok) {
        this.epoch = read.epoch;
        this.nextSeq = read.nextSeq;
        this.pending = read.records;
        result = { pending: read.records.length, resumed: true, skippedLines: read.skipped };
        if (read.skipped > 0) log?.warn({ file, skippedLines: read.skipped }, 'statistics journal: lines skipped (a torn last write, or damage)');
      } else {
        const movedTo = moveAside(file);
        log?.error({ file, movedTo: movedTo ?? null, reason: read.reason }, 'statistics journal is corrupt (moved aside); starting a new ledger');
        result = { pending: 0, resumed: false, corrupt: movedTo, skippedLines: 0 };
      }
    }
    this.rewrite();
    return result;
  }

  /** Clean shutdown: close the open minutes into the journal and let go of it. */
  close(): void {
    this.closeMinutes(true);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.dir = undefined;
  }

  /** Append closed records to the journal, fsynced (or rewrite it whole when it missed something). */
  private journal(records: StatsRecord[]): void {
    const dir = this.dir;
    if (!dir) return;
    if (this.needsRewrite || this.fd === undefined) {
      this.rewrite();
      return;
    }
    const fd = this.fd;
    const ok = dir.attempt(LEDGER_FILE, () => {
      writeAll(fd, journalLines(records));
      fsyncSync(fd);
    });
    if (ok) this.inFile += records.length;
    else this.needsRewrite = true;
  }

  /** Rewrite the journal atomically with the unacknowledged records only, once enough of it is acknowledged. */
  private compactIfWorth(): void {
    if (!this.dir || this.inFile === 0) return;
    const acked = this.inFile - this.pending.length;
    if (this.pending.length === 0 || (acked >= 1000 && acked >= this.pending.length)) this.rewrite();
  }

  private rewrite(): void {
    const dir = this.dir;
    if (!dir) return;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    const header = JSON.stringify({ format: 2, epoch: this.epoch, nextSeq: this.nextSeq }) + '\n';
    const ok = dir.write(LEDGER_FILE, header + journalLines(this.pending));
    if (!ok) {
      this.needsRewrite = true;
      return;
    }
    this.needsRewrite = false;
    this.inFile = this.pending.length;
    dir.attempt(LEDGER_FILE, () => (this.fd = openSync(dir.path(LEDGER_FILE), 'a')));
  }
}

function journalLines(records: readonly StatsRecord[]): string {
  let out = '';
  for (let i = 0; i < records.length; i += LINE_RECORDS) out += JSON.stringify(records.slice(i, i + LINE_RECORDS)) + '\n';
  return out;
}

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

type JournalRead = { ok: true; epoch: string; nextSeq: number; records: StatsRecord[]; skipped: number } | { ok: false; reason: string };

/** Parse a journal (or an earlier version's whole-file ledger). Pure. */
export function parseJournal(text: string): JournalRead {
  const lines = text.split('\n');
  // A journal always ends with a newline; text after the last one is an append cut short by a crash.
  // That batch was never offered (it is written before a pull can see it): dropping it loses nothing counted.
  let skipped = 0;
  if (lines.length > 1) {
    if (lines.pop() !== '') skipped++;
  }
  let first: unknown;
  try {
    first = JSON.parse(lines[0] ?? '');
  } catch (err) {
    return { ok: false, reason: `header: ${(err as Error).message}` };
  }
  const legacy = LegacySchema.safeParse(first);
  if (legacy.success) return { ok: true, epoch: legacy.data.epoch, nextSeq: Math.max(legacy.data.nextSeq, maxSeq(legacy.data.pending) + 1), records: legacy.data.pending, skipped: 0 };
  const header = HeaderSchema.safeParse(first);
  if (!header.success) return { ok: false, reason: `header: ${header.error.issues[0]?.message ?? 'invalid'}` };
  const bySeq = new Map<number, StatsRecord>();
  for (const line of lines.slice(1)) {
    let batch: StatsRecord[];
    try {
      batch = BatchSchema.parse(JSON.parse(line));
    } catch {
      skipped++;
      continue;
    }
    for (const r of batch) if (!bySeq.has(r[0])) bySeq.set(r[0], r);
  }
  const records = [...bySeq.values()].sort((a, b) => a[0] - b[0]);
  return { ok: true, epoch: header.data.epoch, nextSeq: Math.max(header.data.nextSeq, maxSeq(records) + 1), records, skipped };
}

function maxSeq(records: readonly StatsRecord[]): number {
  let m = 0;
  for (const r of records) if (r[0] > m) m = r[0];
  return m;
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

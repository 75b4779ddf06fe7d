/**
 * The statistics ledger's journal in the state dir (`stats-ledger.json`):
 * closed records, appended and fsynced before a pull may offer them, so a
 * killed ingress loses no closed minute (docs/CONTROL.md, "Statistics").
 *
 * Format: a header line `{"format":2,"epoch","nextSeq"}`, then one JSON array
 * of records per line, as they closed. A torn last line (a crash in the middle
 * of an append) is dropped on read: that batch was never offered. Writes run
 * in the background, one at a time, in order (the ingress's event loop never
 * waits for a disk); `durableSeq` says how far records are on disk — or past
 * the disk's reach: with the directory unwritable they are offered anyway
 * (persistence off, logged once by StateDir).
 */
import type { FileHandle } from 'node:fs/promises';
import { open as openFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { isDomainRecord, isLoginRecord, type LedgerRecord } from '../../shared/control-protocol.js';
import type { Logger } from '../../shared/log.js';
import { moveAside, writeFileAtomicAsync, type StateDir } from '../../shared/state-file.js';

/** The journal's name in the state dir. */
export const LEDGER_FILE = 'stats-ledger.json';

const Epoch = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const Seq = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/** First line of the journal. */
const HeaderSchema = z.object({ format: z.literal(2), epoch: Epoch, nextSeq: Seq });
/** The whole-file format of earlier versions (written on a clean shutdown only); its records are checked by isRecord. */
const LegacySchema = z.object({ format: z.literal(1), epoch: Epoch, nextSeq: Seq, pending: z.array(z.unknown()) });

const MINUTE = /^\d{4}-\d\d-\d\dT\d\d:\d\d$/;
const isCount = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** One record's shape (hand-written: a journal can hold a million of them, and this is ~50× cheaper than a zod tuple). Logins and domains are checked as the control plane checks a pull's. */
export function isRecord(r: unknown): r is LedgerRecord {
  if (!Array.isArray(r)) return false;
  if (r[1] === 'login') return isLoginRecord(r);
  if (r[1] === 'domain') return isDomainRecord(r);
  return (
    Array.isArray(r) &&
    r.length === 8 &&
    isCount(r[0]) &&
    (r[0] as number) > 0 &&
    typeof r[1] === 'string' &&
    MINUTE.test(r[1]) &&
    typeof r[2] === 'string' &&
    r[2].length <= 1024 &&
    typeof r[3] === 'string' &&
    r[3].length <= 1024 &&
    isCount(r[4]) &&
    isCount(r[5]) &&
    isCount(r[6]) &&
    isCount(r[7])
  );
}

/** Records per journal line when the journal is rewritten. */
const LINE_RECORDS = 5_000;

export function journalLines(records: readonly LedgerRecord[]): string {
  let out = '';
  for (let i = 0; i < records.length; i += LINE_RECORDS) out += JSON.stringify(records.slice(i, i + LINE_RECORDS)) + '\n';
  return out;
}

export type JournalRead = { ok: true; epoch: string; nextSeq: number; records: LedgerRecord[]; skipped: number } | { ok: false; reason: string };

/** Parse a journal (or an earlier version's whole-file ledger). Pure. */
export function parseJournal(text: string): JournalRead {
  const lines = text.split('\n');
  // A journal always ends with a newline; text after the last one is an append cut short by a crash.
  let skipped = 0;
  if (lines.length > 1 && lines.pop() !== '') skipped++;
  let first: unknown;
  try {
    first = JSON.parse(lines[0] ?? '');
  } catch (err) {
    return { ok: false, reason: `header: ${(err as Error).message}` };
  }
  const legacy = LegacySchema.safeParse(first);
  if (legacy.success) {
    if (!legacy.data.pending.every(isRecord)) return { ok: false, reason: 'a record does not match' };
    const records = legacy.data.pending;
    return { ok: true, epoch: legacy.data.epoch, nextSeq: Math.max(legacy.data.nextSeq, maxSeq(records) + 1), records, skipped: 0 };
  }
  const header = HeaderSchema.safeParse(first);
  if (!header.success) return { ok: false, reason: `header: ${header.error.issues[0]?.message ?? 'invalid'}` };
  const bySeq = new Map<number, LedgerRecord>();
  for (const line of lines.slice(1)) {
    let batch: unknown;
    try {
      batch = JSON.parse(line);
    } catch {
      batch = undefined;
    }
    if (!Array.isArray(batch) || !batch.every(isRecord)) {
      skipped++;
      continue;
    }
    for (const r of batch) if (!bySeq.has(r[0])) bySeq.set(r[0], r);
  }
  const records = [...bySeq.values()].sort((a, b) => a[0] - b[0]);
  return { ok: true, epoch: header.data.epoch, nextSeq: Math.max(header.data.nextSeq, maxSeq(records) + 1), records, skipped };
}

function maxSeq(records: readonly LedgerRecord[]): number {
  let m = 0;
  for (const r of records) if (r[0] > m) m = r[0];
  return m;
}

export type JournalStart = { resumed: JournalRead & { ok: true } } | { resumed: undefined; corrupt?: string | undefined };

/** Read what a previous run left: its records, or nothing (absent; corrupt → moved aside and logged). */
export function readJournal(dir: StateDir, log?: Logger): JournalStart {
  const file = dir.path(LEDGER_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log?.error({ file, err: (err as Error).message }, 'statistics journal unreadable; starting a new one');
    return { resumed: undefined };
  }
  const read = parseJournal(text);
  if (read.ok) {
    if (read.skipped > 0) log?.warn({ file, skippedLines: read.skipped }, 'statistics journal: lines skipped (a torn last write, or damage)');
    return { resumed: read };
  }
  const movedTo = moveAside(file);
  log?.error({ file, movedTo: movedTo ?? null, reason: read.reason }, 'statistics journal is corrupt (moved aside); starting a new ledger');
  return { resumed: undefined, corrupt: movedTo };
}

/** What the journal needs of the ledger when it rewrites itself. */
export interface LedgerView {
  readonly epoch: string;
  /** The next sequence number to be given. */
  readonly nextSeq: number;
  /** Closed, unacknowledged records, by sequence. */
  readonly pending: readonly LedgerRecord[];
}

export class StatsJournal {
  /** Records up to this sequence number are on disk (or cannot be): pulls may offer them. */
  durableSeq: number;
  private fh: FileHandle | undefined;
  /** Records in the file, acknowledged or not. */
  private inFile = 0;
  /** The file is missing something (a failed write, dropped records): the next write rewrites it whole. */
  private rewrite = true;
  /** A rewrite is asked for now (compaction, a dropped record), not only at the next append. */
  private wanted = true;
  private queue: LedgerRecord[] = [];
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly dir: StateDir,
    private readonly ledger: () => LedgerView,
    private readonly log?: Logger,
  ) {
    // What was read back is on disk already; the first write compacts it.
    this.durableSeq = ledger().nextSeq - 1;
    this.inFile = ledger().pending.length;
    this.kick();
  }

  /** Closed records: appended and fsynced in the background; durableSeq moves once they are on disk. */
  append(records: readonly LedgerRecord[]): void {
    for (const r of records) this.queue.push(r);
    this.kick();
  }

  /** Something was dropped from memory: the file must be rewritten to match. */
  invalidate(): void {
    this.rewrite = true;
    this.wanted = true;
    this.kick();
  }

  /** Records were acknowledged: rewrite the file without them once that is worth it. */
  acknowledged(pendingNow: number): void {
    const acked = this.inFile - Math.max(0, pendingNow - this.queue.length);
    if (this.inFile > 0 && (pendingNow === 0 || (acked >= 1000 && acked >= pendingNow))) this.invalidate();
  }

  /** Resolves when everything handed over so far is written (or given up on). */
  async flushed(): Promise<void> {
    while (this.running) await this.running;
  }

  async close(): Promise<void> {
    await this.flushed();
    this.closed = true;
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
  }

  private kick(): void {
    if (this.running || this.closed) return;
    // A failed write is not retried on its own (no busy loop on a read-only dir): the next records retry it.
    if (this.queue.length === 0 && !this.wanted) return;
    this.running = this.step()
      .catch((err: unknown) => {
        // Not a storage error (those are StateDir's): a bug. Never wedge the ledger on it.
        this.log?.error({ err: (err as Error).message }, 'statistics journal write failed');
        this.rewrite = true;
      })
      .finally(() => {
        this.running = undefined;
        this.kick();
      });
  }

  private async step(): Promise<void> {
    if (this.rewrite || this.wanted || !this.fh) {
      this.rewrite = false;
      this.wanted = false;
      const { epoch, nextSeq, pending } = this.ledger();
      this.queue = []; // all in `pending`
      const content = JSON.stringify({ format: 2, epoch, nextSeq }) + '\n' + journalLines(pending);
      this.inFile = pending.length; // counted from now: an acknowledgement meanwhile asks for the next compaction
      await this.fh?.close();
      this.fh = undefined;
      const file = this.dir.path(LEDGER_FILE);
      try {
        const ok = await this.dir.attemptAsync(LEDGER_FILE, async () => {
          await writeFileAtomicAsync(file, content);
          this.fh = await openFile(file, 'a');
        });
        if (!ok) this.rewrite = true;
      } finally {
        this.durableSeq = Math.max(this.durableSeq, nextSeq - 1);
      }
      return;
    }
    const batch = this.queue;
    this.queue = [];
    const fh = this.fh;
    this.inFile += batch.length;
    try {
      const ok = await this.dir.attemptAsync(LEDGER_FILE, async () => {
        await fh.write(journalLines(batch));
        await fh.sync();
      });
      if (!ok) this.rewrite = true;
    } finally {
      this.durableSeq = Math.max(this.durableSeq, batch.at(-1)?.[0] ?? 0);
    }
  }
}

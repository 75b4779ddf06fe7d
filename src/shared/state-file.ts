/**
 * The one way hopgate keeps state on disk (docs/CONFIGURATION.md, "State and
 * crash safety").
 *
 * - Writes are atomic and durable: a temp file in the same directory, written
 *   and fsynced, renamed over the target, then the directory fsynced. A crash
 *   leaves the old file or the new one, never half of one.
 * - Reads are validated with a schema. A file that cannot be parsed or does not
 *   match is moved aside (`NAME.corrupt-<timestamp>`) with one log line, and the
 *   caller starts as if it were absent (from the control plane, or empty).
 * - A state directory that cannot be written (read-only, full, no permission)
 *   never stops the process: the first failure is logged once, persistence is
 *   marked off (StateDir.persisting, exported as a metric), later failures are
 *   only counted, and the first success after them logs that it is back.
 */
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { open as openFile } from 'node:fs/promises';
import type { ZodType } from 'zod';
import type { Logger } from './log.js';

/** Errors that mean "this directory cannot keep state now", not "hopgate has a bug" (EEXIST: a file where the directory should be). */
const STORAGE_ERRORS = new Set(['EROFS', 'ENOSPC', 'EACCES', 'EPERM', 'EDQUOT', 'ENOTDIR', 'EISDIR', 'EIO', 'EEXIST', 'ENAMETOOLONG', 'EMFILE', 'ENFILE']);

export function isStorageError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && STORAGE_ERRORS.has(code);
}

/** fsync a directory so a rename or a new file in it survives a power loss. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (err) {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL' && (err as NodeJS.ErrnoException).code !== 'EISDIR') throw err;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Write `data` to `file` atomically and durably (mode 0600 unless told; the directory is created 0700). Throws. */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', mode);
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dir);
}

/** writeFileAtomic without blocking the event loop (the fsyncs run in the thread pool). Throws. */
export async function writeFileAtomicAsync(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    const fh = await openFile(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  const d = await openFile(dir, 'r');
  try {
    await d.sync();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL' && (err as NodeJS.ErrnoException).code !== 'EISDIR') throw err;
  } finally {
    await d.close();
  }
}

/**
 * Create `file` with `data` only if it does not exist, atomically and durably
 * (written in full under a temp name, then hard-linked into place: a reader
 * never sees half a file, and of two processes racing one wins). False when
 * the file already exists. Throws on other errors.
 */
export function createFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): boolean {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let fd: number | undefined = openSync(tmp, 'wx', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    fsyncDir(dir);
    return true;
  } finally {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
  }
}

export type ReadOutcome<T> =
  | { readonly status: 'absent' }
  | { readonly status: 'ok'; readonly value: T }
  | { readonly status: 'corrupt'; readonly reason: string; readonly movedTo: string | undefined };

/** Move a bad file aside as NAME.corrupt-<timestamp> (kept for a person to look at). Returns the new name, or undefined when it could not be moved. */
export function moveAside(file: string, now = new Date()): string | undefined {
  const to = `${file}.corrupt-${now.toISOString().replace(/[:.]/g, '-')}`;
  try {
    renameSync(file, to);
    return to;
  } catch {
    return undefined;
  }
}

function describe(err: unknown): string {
  if (err && typeof err === 'object' && 'issues' in err && Array.isArray((err as { issues: unknown[] }).issues)) {
    const first = (err as { issues: Array<{ path: PropertyKey[]; message: string }> }).issues[0];
    return first ? `${first.path.map(String).join('.') || '(top)'}: ${first.message}` : 'does not match';
  }
  return (err as Error)?.message ?? String(err);
}

/**
 * Read and validate a JSON state file. Absent → 'absent'. Unparseable or not
 * matching the schema → moved aside, logged once (error level), 'corrupt'.
 * A file that exists but cannot be read (EACCES, EIO) is treated as corrupt too
 * (logged, left in place if it cannot be moved): the process starts without it.
 */
export function readStateFile<T>(file: string, schema: ZodType<T>, log?: Logger, what = 'state file'): ReadOutcome<T> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'absent' };
    log?.error({ file, err: (err as Error).message }, `${what} unreadable; starting without it`);
    return { status: 'corrupt', reason: (err as Error).message, movedTo: undefined };
  }
  let reason: string;
  try {
    return { status: 'ok', value: schema.parse(JSON.parse(text)) };
  } catch (err) {
    reason = describe(err);
  }
  const movedTo = moveAside(file);
  log?.error({ file, movedTo: movedTo ?? null, reason }, `${what} is corrupt (moved aside); starting without it`);
  return { status: 'corrupt', reason, movedTo };
}

/**
 * A state directory whose writes may fail: write() never throws for a storage
 * error, it reports false, logs the first failure of a run of failures once
 * and the recovery once.
 */
export class StateDir {
  /** False after a write failed for a storage reason, until one succeeds again. */
  persisting = true;
  failures = 0;
  lastError: string | undefined;

  constructor(
    readonly dir: string,
    private readonly log?: Logger,
  ) {}

  path(name: string): string {
    return join(this.dir, name);
  }

  /** Atomic write of a state file; false (and persistence marked off) when the directory cannot take it. */
  write(name: string, data: string | Uint8Array): boolean {
    return this.attempt(name, () => writeFileAtomic(this.path(name), data));
  }

  /** Run a write-like operation on a file of this directory under the same failure rules. */
  attempt(name: string, op: () => void): boolean {
    try {
      op();
    } catch (err) {
      if (!isStorageError(err)) throw err;
      this.failed(name, err as NodeJS.ErrnoException);
      return false;
    }
    this.succeeded();
    return true;
  }

  /** attempt() for an asynchronous operation. */
  async attemptAsync(name: string, op: () => Promise<void>): Promise<boolean> {
    try {
      await op();
    } catch (err) {
      if (!isStorageError(err)) throw err;
      this.failed(name, err as NodeJS.ErrnoException);
      return false;
    }
    this.succeeded();
    return true;
  }

  private succeeded(): void {
    if (!this.persisting) {
      this.persisting = true;
      this.log?.warn({ dir: this.dir }, 'state directory writable again; persistence resumed');
    }
  }

  private failed(name: string, err: NodeJS.ErrnoException): void {
    this.failures++;
    this.lastError = `${err.code}: ${err.message}`;
    if (!this.persisting) return;
    this.persisting = false;
    this.log?.error({ dir: this.dir, file: name, code: err.code, err: err.message }, 'state directory cannot be written; running without persistence (logged once until it recovers)');
  }
}

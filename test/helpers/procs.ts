/**
 * Processes a test starts (hopgate's own CLI, harness nodes): spawn one,
 * optionally inside a network namespace and behind a wrapper (unshare), wait
 * for its ready line (a regex on stdout; `readyJson` parses a JSON one) within
 * a timeout, keep its stderr, stop it by PID (SIGTERM, then SIGKILL). Every
 * process started here that still runs when the test process exits — a test
 * failed before its cleanup — is SIGKILLed then, with its descendants: no orphans.
 * `ip netns exec` and `unshare … sh -c 'exec …'` both exec in place, so the
 * child's PID is the node process's own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** The first stdout line matching the ready pattern. */
  readonly readyLine: string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<string>;
  alive(): boolean;
  /** Everything it wrote to stderr (its last MiB). */
  stderr(): string;
  stderrTail(): string;
}

export interface StartOptions {
  /** Network namespace to run in (`ip netns exec NS`). */
  readonly ns?: string;
  /** Command prefix inside the namespace, e.g. an unshare wrapper; gets the argv appended. */
  readonly wrap?: (argv: string[]) => string[];
  readonly env?: Record<string, string>;
  /** The ready line: the first stdout line it matches (`/^\{/` for a JSON line, `/^/` for the first line). */
  readonly ready: RegExp;
  /**
   * Bound on the start (default 60 s). Not something the tests assert: `hopgate control` needs ~1.4 s of CPU to
   * start, and took 12-17 s of wall time on this 2-core machine at load 26; 10-15 s bounds killed it mid-start.
   */
  readonly timeoutMs?: number;
}

const running = new Set<Proc>();
const STDERR_KEPT = 1 << 20;

// The last-resort reaping: 'exit' handlers run synchronously, and process.kill is synchronous.
process.once('exit', () => killAllStarted());

export function startProc(name: string, argv: string[], o: StartOptions): Promise<Proc> {
  const inner = o.wrap ? o.wrap(argv) : argv;
  const full = o.ns ? ['ip', 'netns', 'exec', o.ns, ...inner] : inner;
  const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
  let err = '';
  let out = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 2 * STDERR_KEPT) err = err.slice(-STDERR_KEPT);
  });
  const exited = new Promise<string>((r) => child.once('exit', (code, signal) => r(signal ?? String(code))));
  // Registered at once: one that never gets ready is reaped too.
  const proc: Proc = {
    name,
    child,
    pid: child.pid ?? -1,
    readyLine: '',
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    stderr: () => err,
    stderrTail: () => err.slice(-3000),
  };
  if (child.pid !== undefined) running.add(proc);
  exited.then(() => running.delete(proc), () => undefined);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      // Its children too: one that forks (`hopgate up`) would otherwise leave them holding their ports.
      killTree(proc.pid);
      reject(new Error(`${name} not ready within ${o.timeoutMs ?? 60_000} ms: ${err.slice(-1500)}`));
    }, o.timeoutMs ?? 60_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const complete = out.split('\n').slice(0, -1); // a line still being written could match a loose pattern
      const line = complete.find((l) => o.ready.test(l));
      if (line === undefined) { // an empty first line is one too (`/^/`: the first line, whatever it is)
        if (out.length > 100_000) out = out.slice(-50_000);
        return;
      }
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stdout.resume(); // keep draining: a full pipe would block the child
      resolve({ ...proc, readyLine: line });
    };
    child.stdout.on('data', onData);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before ready: ${err.slice(-1500)}`));
    }, () => undefined);
  });
}

/** The ready line parsed as JSON (a CLI's `--json` start line). */
export function readyJson<T = Record<string, unknown>>(p: Proc): T {
  return JSON.parse(p.readyLine) as T;
}

/** SIGKILL, and wait until it is gone. */
export async function killHard(p: Proc): Promise<void> {
  if (p.alive()) process.kill(p.pid, 'SIGKILL');
  await p.exited;
}

/** SIGTERM (the clean shutdown path); SIGKILL after `ms`. */
export async function stopGracefully(p: Proc, ms = 10_000): Promise<string> {
  if (!p.alive()) return p.exited;
  process.kill(p.pid, 'SIGTERM');
  const t = setTimeout(() => p.alive() && process.kill(p.pid, 'SIGKILL'), ms);
  const code = await p.exited;
  clearTimeout(t);
  return code;
}

/**
 * A child a helper spawned itself (not through startProc): SIGKILLed, with its descendants, if it
 * still runs when the test process exits. `npm test` runs with --test-force-exit, so a test that
 * timed out before its cleanup ends its file's process, and this reaps what it left.
 */
export function reapOnExit(child: ChildProcess): void {
  if (child.pid === undefined) return;
  const pid = child.pid;
  const proc = { pid } as Proc;
  running.add(proc);
  child.once('exit', () => running.delete(proc));
}

/** SIGKILL every process this module started that is still running (last-resort cleanup). */
export function killAllStarted(): void {
  for (const p of running) killTree(p.pid);
}

/** SIGKILL a process and its descendants (listed first: once it is gone they are no longer its children). */
function killTree(pid: number): void {
  if (pid <= 0) return;
  for (const d of descendants(pid)) try { process.kill(d, 'SIGKILL'); } catch { /* gone */ }
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/** Whether a process (a negative number: a process group) still exists, for one not started here (a cluster worker). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** PIDs of every live descendant (an ingress's workers), from /proc. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // Field 4 (ppid) follows the parenthesised command name, which may hold spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(e), ppid);
    } catch { /* exited meanwhile */ }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [c, pp] of parent) if (pp === p) { out.push(c); walk(c); }
  };
  walk(pid);
  return out;
}

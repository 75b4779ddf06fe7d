/**
 * The live fuzz loop: a real ingress and exit (host.ts, own process), an echo
 * target and a misbehaving target here; malformed clients and target
 * behaviours from cases.ts. After every case: the host is alive, an innocent
 * client's long-lived connection still echoes every byte, and a new client
 * still gets through. At the end: sessions drain, file descriptors and heap
 * are back near where they started. A failing case is minimized (its steps,
 * then its writes) against fresh hosts.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { Rng } from '../rng.js';
import { startEchoServer } from '../../helpers/net.js';
import { eventually } from '../../helpers/eventually.js';
import { readExactly, socks5ConnectRaw } from '../../helpers/socks5-raw.js';
import { USER } from '../../helpers/ingress.js';
import { HostProcess, type HostStats } from './host-process.js';
import { BadTarget, runClient, type LiveScript, type Placeholders } from './script.js';
import { liveCase } from './cases.js';

export interface LiveFinding {
  readonly problem: 'crash' | 'innocent-client' | 'new-client' | 'resources';
  readonly message: string;
  readonly script?: LiveScript;
  /** The whole batch, when no single case of it does it alone (a concurrency effect). */
  readonly batch?: readonly LiveScript[];
  readonly seed: number;
}

export interface LiveResult {
  cases: number;
  findings: LiveFinding[];
  innocentBytes: number;
  start?: HostStats;
  end?: HostStats;
}

/** Bounds on growth over a run, once the cases' connections are gone. */
export const FD_SLACK = 32;
export const HEAP_SLACK = 64 * 1024 * 1024;

/** Cases run this many at a time, each slot with its own misbehaving target. */
export const SLOTS = 6;

interface Slot {
  readonly bad: BadTarget;
  readonly server: Server;
  readonly p: Placeholders;
}

interface Env {
  host: HostProcess;
  echo: Awaited<ReturnType<typeof startEchoServer>>;
  slots: Slot[];
  p: Placeholders;
  innocent: Socket;
  innocentBytes: number;
  rng: Rng;
}

async function startBad(): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

/**
 * The innocent and the new client come from another source than the cases (127.0.0.1): the cases'
 * wrong credentials rightly throttle their own source (auth backoff: RATE_LIMITED without a check),
 * and what must hold is that other sources are not hurt.
 */
const INNOCENT_SOURCE = '127.0.0.2';

async function openInnocent(env: Pick<Env, 'host' | 'p'>): Promise<Socket> {
  return socks5ConnectRaw(env.host.port, USER.login, USER.password, '127.0.0.1', env.p.echoPort, { timeoutMs: 5000, localAddress: INNOCENT_SOURCE });
}

async function startEnv(seed: number): Promise<Env> {
  const echo = await startEchoServer();
  const slots: Slot[] = [];
  for (let i = 0; i < SLOTS; i++) {
    const bad = await startBad();
    slots.push({ bad: new BadTarget(bad.server), server: bad.server, p: { echoPort: echo.port, badPort: bad.port, user: USER.login, pass: USER.password } });
  }
  const host = await HostProcess.start();
  const p = slots[0]!.p;
  const innocent = await openInnocent({ host, p });
  return { host, echo, slots, p, innocent, innocentBytes: 0, rng: new Rng(seed) };
}

async function stopEnv(env: Env): Promise<void> {
  env.innocent.destroy();
  await env.host.stop();
  await env.echo.close();
  for (const slot of env.slots) {
    slot.bad.reset();
    await new Promise<void>((r) => slot.server.close(() => r()));
  }
}

/** The innocent client's round trip on its long-lived connection, then a brand-new client's. */
async function probe(env: Env): Promise<LiveFinding['problem'] | undefined> {
  const data = env.rng.bytes(env.rng.range(1, 4096));
  try {
    env.innocent.write(data);
    const back = await readExactly(env.innocent, data.length, 5000);
    if (!back.equals(data)) return 'innocent-client';
    env.innocentBytes += data.length;
  } catch {
    return 'innocent-client';
  }
  let fresh: Socket | undefined;
  try {
    fresh = await socks5ConnectRaw(env.host.port, USER.login, USER.password, '127.0.0.1', env.p.echoPort, { timeoutMs: 5000, localAddress: INNOCENT_SOURCE });
    fresh.write('ping');
    if (!(await readExactly(fresh, 4, 5000)).equals(Buffer.from('ping'))) return 'new-client';
  } catch {
    return 'new-client';
  } finally {
    fresh?.destroy();
  }
  return undefined;
}

/** Run up to SLOTS scripts at once (one per slot), then check the host. */
async function runCases(env: Env, scripts: readonly LiveScript[]): Promise<LiveFinding['problem'] | undefined> {
  await Promise.all(
    scripts.map(async (script, i) => {
      const slot = env.slots[i]!;
      slot.bad.begin(script.target);
      await runClient(script, env.host.port, slot.p);
      slot.bad.reset();
    }),
  );
  // A crash can trail the case by a tick; the probe gives it that time, and a failed probe a little more.
  const problem = await probe(env);
  if (problem !== undefined && !env.host.exited) await new Promise((r) => setTimeout(r, 300));
  if (env.host.exited) return 'crash';
  return problem;
}

/** Run one script against a fresh host: the problem it causes there, if any. */
export async function replayLive(script: LiveScript | readonly LiveScript[], seed = 1): Promise<{ problem: LiveFinding['problem'] | undefined; errorText: string }> {
  const env = await startEnv(seed);
  try {
    const problem = await runCases(env, Array.isArray(script) ? script : [script as LiveScript]);
    if (problem === undefined && (await settled(env)).sessions > 2) return { problem: 'resources', errorText: 'sessions left open' };
    return { problem, errorText: env.host.errorText };
  } finally {
    await stopEnv(env);
  }
}

/** Writes joined into one where no close or reset separates them (a slow drip, as one write). */
function collapse<T extends object>(steps: readonly T[]): T[] {
  const out: T[] = [];
  const text = (x: object | undefined): string | undefined => (x && 'w' in x && typeof x.w === 'string' ? x.w : undefined);
  for (const step of steps) {
    const last = text(out.at(-1));
    if ('wait' in step && last !== undefined) continue;
    const now = text(step);
    if (now !== undefined && last !== undefined) out[out.length - 1] = { w: last + now } as T;
    else out.push(step);
  }
  return out;
}

/** Collapse drips, remove steps, then shorten writes, while the same problem still happens on a fresh host. */
export async function minimizeLive(script: LiveScript, problem: LiveFinding['problem'], budgetMs = 60_000): Promise<LiveScript> {
  const deadline = Date.now() + budgetMs;
  const fails = async (s: LiveScript): Promise<boolean> => Date.now() < deadline && (await replayLive(s)).problem === problem;
  let cur = script;
  const collapsed: LiveScript = { ...cur, client: collapse(cur.client), ...(cur.target ? { target: collapse(cur.target) } : {}) };
  if (await fails(collapsed)) cur = collapsed;
  for (const side of ['client', 'target'] as const) {
    for (let i = (cur[side]?.length ?? 0) - 1; i >= 0; i--) {
      const steps: ReadonlyArray<object> = cur[side]!;
      const candidate = { ...cur, [side]: [...steps.slice(0, i), ...steps.slice(i + 1)] };
      if (await fails(candidate)) cur = candidate;
    }
  }
  for (const side of ['client', 'target'] as const) {
    for (let i = 0; i < (cur[side]?.length ?? 0); i++) {
      const step = cur[side]![i]!;
      if (!('w' in step)) continue;
      let text = step.w;
      while (text.length > 1 && Date.now() < deadline) {
        const half = text.slice(0, Math.ceil(text.length / 2));
        const candidate = { ...cur, [side]: cur[side]!.map((x, j) => (j === i ? { w: half } : x)) };
        if (!(await fails(candidate))) break;
        cur = candidate;
        text = half;
      }
    }
  }
  return cur;
}

export interface LiveOptions {
  readonly seed: number;
  readonly seconds: number;
  readonly log?: (line: string) => void;
  /** Minimize findings (slow: replays on fresh hosts). */
  readonly minimize?: boolean;
}

export async function runLiveFuzz(opts: LiveOptions): Promise<LiveResult> {
  const log = opts.log ?? (() => undefined);
  const result: LiveResult = { cases: 0, findings: [], innocentBytes: 0 };
  const caseRng = new Rng(opts.seed);
  let env = await startEnv(opts.seed ^ 0x5eed);
  try {
    await probe(env);
    result.start = await env.host.stats();
    const t0 = Date.now();
    while (Date.now() - t0 < opts.seconds * 1000) {
      const seeds = Array.from({ length: SLOTS }, () => caseRng.u32());
      const batch = seeds.map((seed) => liveCase(new Rng(seed)));
      result.cases += batch.length;
      const problem = await runCases(env, batch);
      if (problem === undefined) continue;
      const errorText = env.host.errorText;
      // Which case of the batch was it: the first that does it alone on a fresh host (else the batch's first).
      let at = -1;
      if (opts.minimize) {
        for (let i = 0; i < batch.length; i++) if ((await replayLive(batch[i]!)).problem === problem) { at = i; break; }
      }
      const alone = at >= 0;
      at = Math.max(at, 0);
      const script = batch[at]!;
      const seed = seeds[at]!;
      const message = `${problem} in the batch with case seed ${seed} (${script.kind}); host stderr: ${errorText.slice(-1500)}`;
      log(`  FINDING ${message}`);
      const minimal = opts.minimize && alone ? await minimizeLive(script, problem) : script;
      result.findings.push({ problem, message, script: minimal, seed, ...(alone ? {} : { batch }) });
      log(`  script: ${JSON.stringify(minimal)}`);
      result.innocentBytes += env.innocentBytes;
      await stopEnv(env);
      env = await startEnv(caseRng.u32());
    }
    result.innocentBytes += env.innocentBytes;
    result.end = await settled(env);
    const fdGrowth = result.end.fds - result.start.fds;
    const heapGrowth = result.end.heapUsed - result.start.heapUsed;
    log(`  host: fds ${result.start.fds} → ${result.end.fds}, heap ${mb(result.start.heapUsed)} → ${mb(result.end.heapUsed)} MB, rss ${mb(result.end.rss)} MB, sessions left ${result.end.sessions}`);
    // Only the innocent client's two sessions (ingress and exit) may outlive the cases.
    if (result.end.sessions > 2) result.findings.push({ problem: 'resources', message: `${result.end.sessions - 2} sessions left open after every case ended`, seed: opts.seed });
    if (fdGrowth > FD_SLACK) result.findings.push({ problem: 'resources', message: `host file descriptors grew by ${fdGrowth}`, seed: opts.seed });
    if (heapGrowth > HEAP_SLACK) result.findings.push({ problem: 'resources', message: `host heap grew by ${mb(heapGrowth)} MB`, seed: opts.seed });
  } finally {
    await stopEnv(env);
  }
  return result;
}

/** Host figures once the cases' sessions are gone (up to the handshake timeout and a bit). */
async function settled(env: Env): Promise<HostStats> {
  let s = await env.host.stats();
  // Not settled within 4 s: the figures as they are (the caller reports what is left); a host that stopped answering still throws.
  if (s.sessions > 2) {
    await eventually('the cases\' sessions to end', async () => (s = await env.host.stats()).sessions <= 2, { timeoutMs: 4000, everyMs: 100 }).catch((e: Error) => {
      if (e.cause instanceof Error) throw e.cause;
    });
  }
  return s;
}

function mb(n: number): string {
  return (n / 1024 / 1024).toFixed(1);
}

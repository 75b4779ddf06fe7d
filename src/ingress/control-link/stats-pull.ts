/**
 * The statistics endpoint of a controlled ingress: GET /v1/stats?after=EPOCH:SEQ&limit=N
 * with the pull token. Minutes that are due close first, and the answer waits until they
 * are in the journal (a record is offered only once a crash cannot lose it).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { StatsLedger } from './stats.js';
import type { NodeExitHealth } from './exit-health-report.js';

export interface StatsAnswer {
  readonly status: number;
  readonly body: string;
}

function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** `health`: the exits this node takes as down now and its probe results (reported with every pull). */
export async function answerStatsPull(url: string, auth: string, pullToken: string | undefined, ledger: StatsLedger, health?: () => NodeExitHealth): Promise<StatsAnswer> {
  if (!pullToken || !sameSecret(auth, `Bearer ${pullToken}`)) return { status: 401, body: JSON.stringify({ error: { code: 'unauthorized', message: 'pull token required' } }) };
  const u = new URL(url, 'http://admin');
  const limit = Number(u.searchParams.get('limit') ?? 20_000);
  ledger.closeMinutes();
  await ledger.flushed();
  const pull = ledger.pull(u.searchParams.get('after') ?? undefined, Number.isFinite(limit) && limit > 0 ? Math.min(limit, 100_000) : 20_000);
  const h = health?.();
  return { status: 200, body: JSON.stringify(h ? { ...pull, exitsDown: h.down, exitProbes: h.probes } : pull) };
}

/** The answer to a pull that failed in this process (not the client's fault). */
export function internalError(err: unknown): StatsAnswer {
  return { status: 500, body: JSON.stringify({ error: { code: 'internal', message: (err as Error).message } }) };
}

export function sendStatsAnswer(res: ServerResponse, a: StatsAnswer): void {
  if (res.writableEnded) return;
  res.writeHead(a.status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(a.body);
}

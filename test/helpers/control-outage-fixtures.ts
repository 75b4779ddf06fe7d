/**
 * Shared pieces of the database-fault tests: raw API calls that keep status,
 * time and Retry-After, a `hopgate control` replica as its own process (a crash
 * shows as its exit), and the checks "answered 503 database_unavailable" and
 * "a change through one replica is in force at an ingress".
 */
import assert from 'node:assert/strict';
import { api, type Api } from './control-link-fixtures.js';
import type { ControlledIngress } from '../../src/processes/controlled-ingress.js';
import { readyJson, startProc, stopGracefully, type Proc } from './procs.js';

export const TOKEN = 'test-operator-token-0123456789';

export interface Answer {
  readonly status: number;
  readonly ms: number;
  readonly retryAfter: string | null;
  readonly body: any;
}

export async function call(url: string, method: string, body?: unknown): Promise<Answer> {
  const t0 = performance.now();
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, ms: performance.now() - t0, retryAfter: res.headers.get('retry-after'), body: text ? JSON.parse(text) : undefined };
}

/** 503, code database_unavailable, a Retry-After in whole seconds, within `maxMs`. */
export function assertUnavailable(r: Answer, what: string, maxMs: number): void {
  assert.equal(r.status, 503, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
  assert.equal(r.body?.error?.code, 'database_unavailable', what);
  assert.match(r.retryAfter ?? '', /^[1-9][0-9]*$/, what);
  assert.ok(r.ms < maxMs, `${what} took ${r.ms} ms`);
}

export interface Replica {
  readonly url: string;
  readonly api: Api;
}

export interface ControlProcess extends Replica {
  readonly proc: Proc;
  stderr(): string;
  stop(): Promise<void>;
}

/** `hopgate control` as its own process (operator token TOKEN). */
export async function startControlProcess(db: string, stateDir: string, waitMs: number): Promise<ControlProcess> {
  const argv = [process.execPath, 'dist/src/cli/main.js', 'control', '--db', db, '--listen', '127.0.0.1:0', '--state-dir', stateDir, '--json', '--log-level', 'warn', '--db-wait-ms', String(waitMs)];
  const proc = await startProc('hopgate control', argv, { env: { HOPGATE_ADMIN_TOKEN: TOKEN }, ready: /^\{/ });
  const { url } = readyJson<{ url: string }>(proc);
  return { url, api: api(url, TOKEN), proc, stderr: () => proc.stderr(), stop: async () => void (await stopGracefully(proc)) };
}

/** Change bob through `through`; resolves with the time until `ing` has it in force. */
export async function changeReaches(through: Replica, ing: ControlledIngress, bobId: string, maxConnections: number): Promise<number> {
  const t0 = performance.now();
  const r = await through.api('PATCH', `/v1/customers/${bobId}`, { maxConnections });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const rev = (await through.api('GET', '/v1/revision')).body.revision;
  await ing.waitForRevision(rev, 5000);
  assert.equal(ing.ingress!.runtime.snapshot.usersByLogin.get('bob')!.maxConnections, maxConnections);
  return performance.now() - t0;
}

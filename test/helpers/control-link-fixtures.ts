/**
 * Shared pieces of the config-stream, statistics and quota tests: a control
 * plane with loopback-friendly settings, API calls, ingress nodes with tokens,
 * ingresses fed by the stream, and raw CONNECT tunnels through them.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from '../../src/control/control-plane.js';
import { startControlledIngress, type ControlledIngress, type ControlledIngressOptions } from '../../src/processes/controlled-ingress.js';
import { createLogger } from '../../src/shared/log.js';
import { listen0 } from './net.js';
import { authApi, TEST_COST } from './control-fixtures.js';

export interface Api {
  <T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}

export function api(base: string, token: string): Api {
  const call = authApi(base);
  return (method, path, body) => call(method, path, `Bearer ${token}`, body);
}

/** Settings every test network uses: ephemeral ports, loopback targets allowed, quiet logs, no exit probes. */
export const TEST_SETTINGS = {
  listen: { host: '127.0.0.1', ports: [0, 0] },
  targetPolicy: { allow: ['127.0.0.0/8'] },
  log: { level: 'silent', access: false },
  limits: { exitProbeIntervalMs: 0 },
};

export async function startTestControl(
  db: string,
  stateDir: string,
  extra: { port?: number; statsIntervalMs?: number; heartbeatMs?: number; revisionPollMs?: number; dbWaitMs?: number; legitimacy?: ControlPlaneOptions['legitimacy']; healthHistoryDays?: number } = {},
): Promise<ControlPlane & { api: Api }> {
  const cp = await startControlPlane({
    db,
    stateDir,
    port: extra.port ?? 0,
    passwordCost: TEST_COST,
    adminToken: 'test-operator-token-0123456789',
    statsIntervalMs: extra.statsIntervalMs ?? 60_000,
    ...(extra.heartbeatMs ? { heartbeatMs: extra.heartbeatMs } : {}),
    ...(extra.revisionPollMs ? { revisionPollMs: extra.revisionPollMs } : {}),
    ...(extra.legitimacy ? { legitimacy: extra.legitimacy } : {}),
    ...(extra.dbWaitMs !== undefined ? { dbWaitMs: extra.dbWaitMs } : {}),
    ...(extra.healthHistoryDays !== undefined ? { healthHistoryDays: extra.healthHistoryDays } : {}),
  });
  return Object.assign(cp, { api: api(cp.url, cp.token.token) });
}

/** Register a node and issue its token. */
export async function makeNode(call: Api, id: string): Promise<string> {
  const created = await call('POST', '/v1/ingress-nodes', { id, name: id });
  if (created.status !== 201 && created.status !== 409) throw new Error(`node ${id}: ${created.status}`);
  const t = await call<{ token: string }>('POST', `/v1/ingress-nodes/${id}/token`);
  if (t.status !== 200) throw new Error(`token ${id}: ${t.status}`);
  return t.body.token;
}

export function startLinkedIngress(controlUrl: string, token: string, stateDir: string, extra: Partial<ControlledIngressOptions> = {}): Promise<ControlledIngress> {
  return startControlledIngress({
    controlUrl,
    token,
    stateDir,
    workers: 1,
    admin: { host: '127.0.0.1', port: 0 },
    log: createLogger('silent'),
    bootWaitMs: 3000,
    minBackoffMs: 50,
    maxBackoffMs: 400,
    statsGraceMs: 200,
    ...extra,
  });
}

export interface Tunnel {
  readonly status: number;
  readonly code: string | undefined;
  readonly socket: Socket;
}

/** HTTP CONNECT through the proxy; resolves with the status once the head is in. */
export async function connectTunnel(proxyPort: number, login: string, password: string, targetPort: number): Promise<Tunnel> {
  const s = connect({ port: proxyPort, host: '127.0.0.1' });
  s.on('error', () => undefined);
  await once(s, 'connect');
  const auth = Buffer.from(`${login}:${password}`).toString('base64');
  s.write(`CONNECT 127.0.0.1:${targetPort} HTTP/1.1\r\nHost: 127.0.0.1:${targetPort}\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`);
  let buf = Buffer.alloc(0);
  const head = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no CONNECT answer within 5 s')), 5000);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(t);
      s.off('data', onData);
      s.pause();
      const rest = buf.subarray(end + 4);
      if (rest.length > 0) s.unshift(rest);
      resolve(buf.subarray(0, end).toString('latin1'));
    };
    s.on('data', onData);
    s.once('close', () => {
      clearTimeout(t);
      resolve(buf.toString('latin1'));
    });
  });
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  const code = /x-hopgate-error:\s*([A-Z_]+)/i.exec(head)?.[1];
  if (status !== 200) s.destroy();
  return { status, code, socket: s };
}

/** Send `data` through an open tunnel to an echo server and read it back. */
export async function echoThrough(t: Tunnel, data: string): Promise<string> {
  const s = t.socket;
  s.resume();
  let got = '';
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`echo: got ${JSON.stringify(got)} of ${JSON.stringify(data)}`)), 3000);
    const onData = (c: Buffer): void => {
      got += c.toString();
      if (got.length >= data.length) {
        clearTimeout(timer);
        s.off('data', onData);
        resolve();
      }
    };
    s.on('data', onData);
  });
  s.write(data);
  await done;
  return got;
}

/** A target that sends `size` bytes to whoever connects, then closes. */
export async function startBlobServer(size: number): Promise<{ port: number; server: Server; close(): Promise<void> }> {
  const blob = Buffer.alloc(size, 0x61);
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.end(blob);
  });
  const port = await listen0(server);
  return { port, server, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Download everything a tunnel brings until it closes; the byte count. */
export async function drain(t: Tunnel, timeoutMs = 5000): Promise<number> {
  let n = 0;
  t.socket.on('data', (c: Buffer) => (n += c.length));
  t.socket.resume();
  await Promise.race([once(t.socket, 'close'), new Promise((r) => setTimeout(r, timeoutMs))]);
  return n;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

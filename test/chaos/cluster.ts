/**
 * A whole hopgate network of real processes (`node dist/src/cli/main.js …`):
 * a control plane, ingresses fed by its config stream, hopgate exits the
 * ingresses dial, and a reverse exit that dials the first ingress. Each node
 * has a Place (its address, and optionally its network namespace and a
 * wrapper), so the same code runs on loopback (soak) or in namespaces (chaos).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProc, stopGracefully, killHard, type Proc } from '../helpers/procs.js';

export const MAIN = resolve(fileURLToPath(import.meta.url), '../../../src/cli/main.js');
const ADMIN_TOKEN = 'chaos-operator-token-0123456789abcdef';
const EXIT_SECRET = 'chaos-exit-relay-secret';
export const CP_PORT = 7700;
export const INGRESS_PORT = 8000;
export const TUNNEL_PORT = 7443;
const EXIT_PORT = 7001;
const ADMIN_PORT = 7790;

export interface Place {
  readonly ip: string;
  readonly ns?: string;
  readonly wrap?: (argv: string[]) => string[];
}

export interface ClusterPlan {
  readonly dir: string;
  /** `--db` of the control plane. */
  readonly db: string;
  readonly cp: Place;
  readonly ingresses: readonly Place[];
  readonly exits: readonly Place[];
  readonly reverse?: Place;
  /** The address each ingress listens on (one ingress per namespace may use 0.0.0.0). */
  readonly listenHost: string;
  /** Where targets live: allowed by the ingresses' and exits' target policies, and the exits' ingress allow-list. */
  readonly net: string;
  readonly statsIntervalMs?: number;
  readonly workers?: number;
  /** Extra node flags for every process (a soak probe's --import). */
  readonly nodeArgs?: readonly string[];
  readonly env?: Record<string, string>;
}

export interface Api {
  <T = any>(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<{ status: number; body: T }>;
}

export const exitId = (i: number): string => `ex-${i + 1}`;
export const REVERSE_ID = 'rev-1';

export class Cluster {
  cp: Proc | undefined;
  readonly ingresses: (Proc | undefined)[] = [];
  readonly exits: (Proc | undefined)[] = [];
  reverse: Proc | undefined;
  readonly api: Api;
  private reverseToken = '';
  private readonly tokens: string[] = [];
  private readonly cert: string;
  private readonly key: string;

  constructor(readonly plan: ClusterPlan) {
    mkdirSync(plan.dir, { recursive: true });
    this.cert = join(plan.dir, 'cert.pem');
    this.key = join(plan.dir, 'key.pem');
    const sans = ['IP:127.0.0.1', ...plan.ingresses.map((p) => `IP:${p.ip}`)].join(',');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', this.key, '-out', this.cert,
      '-days', '2', '-subj', '/CN=hopgate chaos', '-addext', `subjectAltName=${sans}`], { stdio: 'ignore' });
    writeFileSync(join(plan.dir, 'exit-secret'), EXIT_SECRET, { mode: 0o600 });
    const base = `http://${plan.cp.ip}:${CP_PORT}`;
    this.api = async (method, path, body, timeoutMs = 10_000) => {
      const res = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = text ? JSON.parse(text) : undefined; } catch { /* not JSON: keep the text */ }
      return { status: res.status, body: parsed as never };
    };
  }

  private node(name: string, place: Place, args: string[], ready: RegExp, env: Record<string, string> = {}): Promise<Proc> {
    return startProc(name, [process.execPath, ...(this.plan.nodeArgs ?? []), MAIN, ...args], {
      ...(place.ns ? { ns: place.ns } : {}),
      ...(place.wrap ? { wrap: place.wrap } : {}),
      env: { HOPGATE_ADMIN_TOKEN: ADMIN_TOKEN, HOPGATE_LOG_LEVEL: 'warn', ...this.plan.env, ...env },
      ready,
      timeoutMs: 30_000,
    });
  }

  async startControl(): Promise<Proc> {
    const p = this.plan;
    this.cp = await this.node('control', p.cp, ['control', '--db', p.db, '--listen', `${p.cp.ip}:${CP_PORT}`, '--state-dir', join(p.dir, 'cp'),
      '--json', '--log-level', 'warn', '--no-legitimacy', '--stats-interval-ms', String(p.statsIntervalMs ?? 1000)], /"url"/);
    return this.cp;
  }

  /** Settings, exits and ingress nodes through the API; once, after the first control-plane start. */
  async provision(): Promise<void> {
    const p = this.plan;
    const must = async (what: string, r: Promise<{ status: number; body: any }>): Promise<any> => {
      const res = await r;
      if (res.status >= 300) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    };
    await must('settings', this.api('PATCH', '/v1/settings', {
      listen: { host: p.listenHost, ports: [INGRESS_PORT, INGRESS_PORT] },
      tls: { cert: this.cert, key: this.key },
      targetPolicy: { allow: [p.net] },
      log: { level: 'warn', access: false },
      limits: { exitProbeIntervalMs: 1000 },
      ...(p.reverse ? { reverse: { listen: { host: p.listenHost, port: TUNNEL_PORT }, heartbeatMs: 1000 } } : {}),
      ...(p.workers ? { workers: p.workers } : {}),
    }));
    for (const [i, e] of p.exits.entries()) {
      await must(`exit ${i}`, this.api('POST', '/v1/exits', { id: exitId(i), kind: 'hopgate', host: e.ip, port: EXIT_PORT, username: 'ingress', password: EXIT_SECRET, egressIp: e.ip, country: 'us' }));
    }
    if (p.reverse) {
      // 127.0.0.1: on loopback the exit dials from it (the kernel's default source).
    const r = await must('reverse exit', this.api('POST', '/v1/exits', { id: REVERSE_ID, kind: 'reverse', egressIp: p.reverse.ip, country: 'nl', from: [p.net, '127.0.0.1/32'] }));
      this.reverseToken = r.token;
    }
    for (const [i] of p.ingresses.entries()) {
      await must(`node ${i}`, this.api('POST', '/v1/ingress-nodes', { id: `ing-${i + 1}`, name: `ing-${i + 1}` }));
      const t = await must(`token ${i}`, this.api('POST', `/v1/ingress-nodes/ing-${i + 1}/token`));
      this.tokens[i] = t.token;
      writeFileSync(join(p.dir, `ing-${i + 1}.token`), t.token, { mode: 0o600 });
    }
  }

  async startIngress(i: number): Promise<Proc> {
    const place = this.plan.ingresses[i]!;
    const state = join(this.plan.dir, `ing-${i + 1}-state`);
    mkdirSync(state, { recursive: true, mode: 0o700 });
    const proc = await this.node(`ingress ${i + 1}`, place, ['ingress', '--control', `http://${this.plan.cp.ip}:${CP_PORT}`, '--token-file', join(this.plan.dir, `ing-${i + 1}.token`),
      '--state-dir', state, '--workers', String(this.plan.workers ?? 1), '--admin', `${place.ip}:${ADMIN_PORT}`, '--admin-url', `http://${place.ip}:${ADMIN_PORT}`], /"ready":true/);
    this.ingresses[i] = proc;
    return proc;
  }

  stateDir(i: number): string {
    return join(this.plan.dir, `ing-${i + 1}-state`);
  }

  async startExit(i: number): Promise<Proc> {
    const e = this.plan.exits[i]!;
    const proc = await this.node(`exit ${exitId(i)}`, e, ['exit', '--listen', `${e.ip}:${EXIT_PORT}`, '--egress', e.ip, '--allow-from', this.plan.net, '--allow-from', '127.0.0.1/32',
      '--secret-file', join(this.plan.dir, 'exit-secret'), '--allow-target', this.plan.net], /"ready":true/);
    this.exits[i] = proc;
    return proc;
  }

  async startReverse(): Promise<Proc> {
    const r = this.plan.reverse!;
    const ing = this.plan.ingresses[0]!;
    this.reverse = await this.node('reverse exit', r, ['exit', '--connect-to', `${ing.ip}:${TUNNEL_PORT}`, '--id', REVERSE_ID, '--ca', this.cert, '--pool', '4',
      '--egress', r.ip, '--allow-target', this.plan.net, '--log-level', 'warn', '--drain-ms', '1000'], /"ready":true/, { HOPGATE_EXIT_TOKEN: this.reverseToken });
    return this.reverse;
  }

  async startAll(): Promise<void> {
    await this.startControl();
    await this.provision();
    await Promise.all(this.plan.exits.map((_, i) => this.startExit(i)));
    for (const [i] of this.plan.ingresses.entries()) await this.startIngress(i);
    if (this.plan.reverse) await this.startReverse();
  }

  all(): Proc[] {
    return [this.cp, ...this.ingresses, ...this.exits, this.reverse].filter((p): p is Proc => p !== undefined);
  }

  /** Clean shutdown of everything still running (ingresses first, so they save their ledgers). */
  async stopAll(): Promise<void> {
    await Promise.all([this.reverse, ...this.ingresses].map((p) => (p ? stopGracefully(p, 8000) : Promise.resolve(''))));
    await Promise.all([...this.exits, this.cp].map((p) => (p ? stopGracefully(p, 8000) : Promise.resolve(''))));
  }

  async kill(p: Proc | undefined): Promise<void> {
    if (p) await killHard(p);
  }
}

/** Customer helper: create with the given exits, return login and password. */
export async function createCustomer(api: Api, login: string, exits: string[] = []): Promise<{ id: string; login: string; password: string }> {
  const r = await api<{ customer: { id: string }; password: string }>('POST', '/v1/customers', { login, exits });
  if (r.status !== 201) throw new Error(`customer ${login}: ${r.status} ${JSON.stringify(r.body)}`);
  return { id: r.body.customer.id, login, password: r.body.password };
}

/** Usage totals of one customer (live minutes included). */
export async function usageOf(api: Api, login: string): Promise<{ bytesUp: number; bytesDown: number; connections: number; failures: number }> {
  const r = await api<{ totals: { bytesUp: number; bytesDown: number; connections: number; failures: number } }>('GET', `/v1/usage?customer=${encodeURIComponent(login)}&by=minute`);
  if (r.status !== 200) throw new Error(`usage ${login}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.totals;
}

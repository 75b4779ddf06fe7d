/**
 * Control-plane churn during a soak: every few seconds a customer is created,
 * changed, suspended, then deleted (a rolling window of them), and every
 * `reloadEveryMs` a settings change the ingress must apply (a config reload
 * through the stream). API errors are counted, not thrown.
 */
import type { Api } from '../chaos/cluster.js';

export interface ChurnStats {
  created: number;
  changed: number;
  suspended: number;
  deleted: number;
  reloads: number;
  errors: string[];
}

export class Churn {
  readonly stats: ChurnStats = { created: 0, changed: 0, suspended: 0, deleted: 0, reloads: 0, errors: [] };
  private timers: NodeJS.Timeout[] = [];
  private live: { id: string; step: number }[] = [];
  private n = 0;
  /** One chain per kind at a time (a customer's password hash takes a while on a loaded machine); a reload never waits for a step. */
  private readonly busy = new Set<string>();

  constructor(private readonly api: Api, private readonly exitIds: readonly string[], private readonly stepEveryMs = 3000, private readonly reloadEveryMs = 30_000) {}

  start(): void {
    // guard() catches everything its chain throws; the .catch only satisfies ownership.
    this.timers.push(setInterval(() => {
      this.guard('step', () => this.step()).catch(() => undefined);
    }, this.stepEveryMs));
    this.timers.push(setInterval(() => {
      this.guard('reload', () => this.reload()).catch(() => undefined);
    }, this.reloadEveryMs));
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
  }

  private async guard(kind: string, fn: () => Promise<void>): Promise<void> {
    if (this.busy.has(kind)) return; // the next tick catches up
    this.busy.add(kind);
    try {
      await fn();
    } catch (e) {
      this.stats.errors = [...this.stats.errors.slice(-19), `${new Date().toISOString()} ${(e as Error).message}`];
    } finally {
      this.busy.delete(kind);
    }
  }

  private async check(what: string, p: Promise<{ status: number; body: any }>): Promise<any> {
    const r = await p;
    if (r.status >= 300) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    return r.body;
  }

  private async step(): Promise<void> {
    const login = `churn${this.n++}`;
    const c = await this.check('create', this.api('POST', '/v1/customers', { login, exits: this.exitIds.slice(0, 2) }));
    this.stats.created++;
    this.live.push({ id: c.customer.id, step: 0 });
    for (const x of this.live) {
      x.step++;
      if (x.step === 2) {
        await this.check('change', this.api('PATCH', `/v1/customers/${x.id}`, { maxConnections: 10 + (this.n % 50), bandwidth: { downBytesPerSec: 5_000_000 } }));
        this.stats.changed++;
      } else if (x.step === 3) {
        await this.check('suspend', this.api('PATCH', `/v1/customers/${x.id}`, { status: 'suspended' }));
        this.stats.suspended++;
      } else if (x.step === 4) {
        await this.check('delete', this.api('DELETE', `/v1/customers/${x.id}`));
        this.stats.deleted++;
      }
    }
    this.live = this.live.filter((x) => x.step < 4);
  }

  private async reload(): Promise<void> {
    const ms = this.stats.reloads % 2 === 0 ? 1500 : 1000;
    await this.check('settings', this.api('PATCH', '/v1/settings', { limits: { exitProbeIntervalMs: ms } }));
    this.stats.reloads++;
  }
}

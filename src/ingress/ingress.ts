/**
 * Composition root of the ingress node: the only place that wires listeners,
 * runtime, TLS, logs and metrics together from a configuration.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { IngressConfig } from '../shared/schema/ingress-config.js';
import type { Logger } from '../shared/log.js';
import { startAdminServer, type AdminRawHandler, type MetricsSource } from '../shared/admin-server.js';
import type { Registry } from 'prom-client';
import { exitReport } from './route/exit-report.js';
import { portTable } from '../shared/routing/port-table.js';
import { compileSnapshot } from './config/snapshot.js';
import { ListenerSet } from './listener-set.js';
import { createIngressMetrics, subscribeAccessLog } from './observe.js';
import { IngressRuntime } from './runtime.js';
import { startExitProber } from './route/exit-prober.js';
import { ReverseNode, type ReversePrimaryLink } from './reverse/reverse-node.js';
import { LateStart } from './reverse/late-start.js';
import { boundPort } from '../shared/listen.js';
import { shareThrottle } from './auth/throttle-sync.js';

function loadTls(cfg: IngressConfig): SecureContext | undefined {
  if (!cfg.tls) return undefined;
  return createSecureContext({ cert: readFileSync(cfg.tls.cert), key: readFileSync(cfg.tls.key), minVersion: 'TLSv1.2' });
}

export class Ingress {
  private revision = 1;
  private admin: Server | undefined;
  private readonly stopObservers: Array<() => void> = [];
  /** Reverse-connected exits (docs/REVERSE-EXITS.md): started by the first configuration that has them. */
  private readonly reverse: LateStart<ReverseNode>;

  private constructor(
    readonly runtime: IngressRuntime,
    private readonly listeners: ListenerSet,
    private readonly log: Logger,
    private readonly metrics: Registry,
    fromPrimary: ReversePrimaryLink | undefined,
  ) {
    this.reverse = new LateStart(() => this.startReverse(fromPrimary), log, 'reverse exits', !fromPrimary);
    // Exact liveness of reverse exits; down while the reverse side is not running.
    runtime.exitHealth.presence = (id) => runtime.reverse?.registry.presence(id) ?? (runtime.snapshot.exits.byIdOf(id)?.config.kind === 'reverse' ? false : undefined);
  }

  /**
   * `revision`: the configuration's revision (the control plane's; default 1).
   * `adminHandler`: more admin routes, tried first (the control link's statistics).
   * `metrics`: called with the metrics registry, to add more.
   * `reverseFromPrimary`: a cluster worker, and its channel to the primary, which holds the reverse tunnel port.
   * `scrape`: what /metrics answers from, given this process's registry (a cluster worker: every worker's figures).
   */
  static async start(
    config: IngressConfig,
    log: Logger,
    opts: { adminPort?: number; revision?: number; adminHandler?: AdminRawHandler; metrics?: (registry: Registry) => void; reverseFromPrimary?: ReversePrimaryLink; scrape?: (registry: Registry) => MetricsSource } = {},
  ): Promise<Ingress> {
    const runtime = new IngressRuntime(compileSnapshot(config, opts.revision ?? 1), loadTls(config));
    runtime.links.onUnreadable = (err) => log.warn({ err: err.message }, 'link identity unreadable; the key in force stays');
    const metrics = createIngressMetrics(runtime);
    const ingress = new Ingress(runtime, new ListenerSet(runtime), log, metrics.registry, opts.reverseFromPrimary);
    ingress.revision = opts.revision ?? 1;
    opts.metrics?.(metrics.registry);
    ingress.stopObservers.push(() => metrics.stop(), subscribeAccessLog(log, () => runtime.snapshot.config.log.access, runtime));
    ingress.stopObservers.push(() => runtime.quota.stop());
    if (config.limits.exitProbeIntervalMs > 0) ingress.stopObservers.push(startExitProber(runtime, config.limits.exitProbeIntervalMs, (err) => log.error({ err: String(err) }, 'exit probe round failed')));
    try {
      await ingress.listeners.listen(config.listen.host, config.listen.ports[0], config.listen.ports[1]);
      await ingress.reverse.follow(config, true);
    } catch (err) {
      ingress.listeners.close();
      for (const stop of ingress.stopObservers) stop(); // a taken port must not leave timers and subscribers behind
      throw err;
    }
    // What exits pin (hopgate exit --link-allow): said at every start, made on the first.
    if (runtime.links.fingerprint) log.info({ linkFingerprint: runtime.links.fingerprint }, 'link identity');
    const adminPort = opts.adminPort ?? config.metrics?.port;
    if (adminPort !== undefined) {
      ingress.admin = await startAdminServer(config.metrics?.host ?? '127.0.0.1', adminPort, opts.scrape?.(metrics.registry) ?? metrics.registry, () => ({
        ok: !runtime.draining,
        revision: runtime.snapshot.revision,
        sessions: runtime.sessions.size,
      }), (path) => {
        // The port table with live health, for `hopgate ports`; exits with health and quality, for `hopgate exits --ingress`.
        if (path === '/v1/exits') return exitReport(runtime.snapshot, runtime.exitHealth, runtime.links, (id) => runtime.reverse?.registry.linkFigures(id) ?? null);
        const m = /^\/v1\/ports\/([^/]+)$/.exec(path);
        if (!m) return undefined;
        const snap = runtime.snapshot;
        const user = snap.usersByLogin.get(m[1]!);
        return user ? portTable(user.route, user.config.login, snap.config.listen.ports, (e) => runtime.exitHealth.isUp(e.id)) : undefined;
      }, opts.adminHandler, () => runtime.snapshot.config.metrics?.token);
    }
    return ingress;
  }

  /** The tunnel port exits dial, and published sites. */
  private async startReverse(fromPrimary: ReversePrimaryLink | undefined): Promise<ReverseNode> {
    const node = await ReverseNode.start(this.runtime.snapshot, this.log, fromPrimary ? { fromPrimary: fromPrimary.intake } : {});
    if (fromPrimary) shareThrottle(node.registry.throttle, 'tunnel', fromPrimary.throttle); // a cluster worker: failed registrations count across workers
    node.configure(this.runtime.snapshot); // reloads that came while it started
    this.runtime.reverse = node;
    node.registerMetrics(this.metrics);
    return node;
  }

  ports(): number[] {
    return this.listeners.ports();
  }

  get adminPort(): number | undefined {
    return boundPort(this.admin);
  }

  /** Apply a new configuration without dropping live connections. Listen address changes need a restart. */
  reload(config: IngressConfig, revision?: number): number {
    this.revision = revision ?? this.revision + 1;
    const next = compileSnapshot(config, this.revision, this.runtime.snapshot);
    const old = this.runtime.snapshot.config.listen;
    if (old.host !== config.listen.host || old.ports[0] !== config.listen.ports[0] || old.ports[1] !== config.listen.ports[1]) {
      this.log.warn({ from: old, to: config.listen }, 'listen address changes take effect on restart');
    }
    this.runtime.apply(next, loadTls(config));
    // The first reverse exit may come in a reload. follow() logs its own failure; this catch owns the rest.
    this.reverse.follow(config).catch((err: unknown) => this.log.error({ err: String(err) }, 'reverse tunnel could not start'));
    this.log.info({ revision: next.revision, users: next.usersByLogin.size }, 'configuration applied');
    return next.revision;
  }

  /** Stop accepting, let live sessions finish within `drainMs`, then cut the rest. */
  async shutdown(drainMs = this.runtime.snapshot.config.limits.drainTimeoutMs): Promise<void> {
    this.runtime.draining = true;
    this.listeners.close();
    this.reverse.close();
    const deadline = Date.now() + drainMs;
    while (this.runtime.sessions.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const cut = this.runtime.sessions.size;
    for (const s of this.runtime.sessions) s.abort();
    // Links to exits: GOAWAY (the exit sees a clean end, not a broken link), a moment to close, then gone.
    await this.runtime.links.drainAndClose(1000);
    if (cut > 0) this.log.warn({ cut }, 'drain deadline reached; cut remaining sessions');
    this.runtime.reverse?.close(true);
    await new Promise<void>((resolve) => (this.admin ? this.admin.close(() => resolve()) : resolve()));
    for (const stop of this.stopObservers) stop();
  }
}

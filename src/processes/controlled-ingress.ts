/**
 * An ingress node fed by the control plane (`hopgate ingress --control URL
 * --token-file F`): the config stream instead of a YAML file. One object,
 * in one of four phases:
 *
 * - booting: the first snapshot from the control plane, or — when it cannot
 *   be reached (refused, or nothing within `bootWaitMs`) — the last snapshot
 *   kept on disk (`<state-dir>/control-snapshot.json`, 0600). With neither, it
 *   waits. Then the ingress starts, in this process (controlled-single.ts) or
 *   in workers (controlled-cluster.ts).
 * - running: every snapshot and delta is applied through Ingress.reload (live
 *   connections keep theirs), then acknowledged, then written to disk.
 *   Statistics: a ledger per node (ingress/control-link/stats.ts), answered
 *   at GET /v1/stats on the admin server to the control plane holding this
 *   node's stream.
 * - draining (stop): the stream closes, the ingress drains, the last
 *   snapshot and statistics reach the disk.
 * - stopped.
 */
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { LinkIdentitySource } from '../link/identity.js';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Ingress } from '../ingress/ingress.js';
import { createLogger, type Logger } from '../shared/log.js';
import type { BackoffPolicy } from '../shared/backoff.js';
import type { IngressConfig } from '../shared/schema/ingress-config.js';
import type { DeltaMessage, HelloMessage, SnapshotMessage } from '../shared/control-protocol.js';
import { moveAside, StateDir } from '../shared/state-file.js';
import { ControlConfigState, readSavedSnapshot, SNAPSHOT_FILE, type LocalOverrides } from '../ingress/control-link/config-state.js';
import { ControlStreamClient } from '../ingress/control-link/stream-client.js';
import { LEDGER_FILE, StatsLedger } from '../ingress/control-link/stats.js';
import { DEFAULT_REPORT_INTERVAL_MS, isReportInterval, LegitimacyLink } from '../ingress/control-link/legitimacy-link.js';
import type { Applier, NodeContext } from './controlled-applier.js';
import { startSingle } from './controlled-single.js';
import { startCluster } from './controlled-cluster.js';
import { SnapshotKeeper } from './snapshot-keeper.js';
import { syncLegitimacy } from './legitimacy-sync.js';

export { SNAPSHOT_FILE, LEDGER_FILE };

export interface ControlledIngressOptions {
  readonly controlUrl: string;
  readonly token: string;
  /** Where the last snapshot and the unsent statistics are kept. */
  readonly stateDir: string;
  /** Default: the configuration's `workers`, else one per CPU. */
  readonly workers?: number;
  /** Admin server (/metrics, /healthz, /v1/stats) address; default the configuration's `metrics`, else 127.0.0.1 on any free port. */
  readonly admin?: { host: string; port: number };
  /** The admin URL the control plane should pull from (default: http://ADMIN_HOST:ADMIN_PORT). */
  readonly adminUrl?: string;
  readonly log?: Logger;
  /** How long to wait for the control plane's first snapshot before booting from disk (default 5000 ms). */
  readonly bootWaitMs?: number;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Statistics: a minute is closed this long after it ends (default 2500 ms). */
  readonly statsGraceMs?: number;
  /** The statistics clock (tests move it; single-process mode). */
  readonly now?: () => number;
  /** How a crashed worker is restarted (default: supervisor.ts). */
  readonly restart?: BackoffPolicy;
  /** How often a staged or promoted link key is looked for (default 5000 ms; tests shorten it). */
  readonly linkReportMs?: number;
  /** This node's side of links (LocalOverrides.links); default: its identity in `<stateDir>/link`. */
  readonly links?: LocalOverrides['links'];
}

export type ControlledPhase = 'booting' | 'running' | 'draining' | 'stopped';

export interface ControlledIngress {
  readonly phase: ControlledPhase;
  readonly ports: [number, number];
  readonly workers: number;
  /** Where the configuration in force came from at boot. */
  readonly bootedFrom: 'control' | 'disk';
  /** The revision in force (acknowledged to the control plane). */
  readonly revision: number;
  readonly adminUrl: string | undefined;
  /** The ingress itself (single-process mode only). */
  readonly ingress: Ingress | undefined;
  /** The reverse tunnel port, once listening (undefined without reverse exits). */
  readonly tunnelPort: number | undefined;
  readonly client: ControlStreamClient;
  readonly ledger: StatsLedger;
  /** Source legitimacy (undefined when disabled or before the node id is known). */
  readonly legitimacy: LegitimacyLink | undefined;
  /** Resolves once `revision` (or later) is in force. */
  waitForRevision(revision: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export function startControlledIngress(o: ControlledIngressOptions): Promise<ControlledIngress> {
  return ControlledIngressNode.start(o);
}

/** How often a staged or promoted link key is looked for (a stat of one file). */
const LINK_REPORT_MS = 5000;

/** A promise with its resolve at hand. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

class ControlledIngressNode implements ControlledIngress {
  private phase_: ControlledPhase = 'booting';
  readonly client: ControlStreamClient;
  readonly ledger: StatsLedger;
  bootedFrom: 'control' | 'disk' = 'control';
  adminUrl: string | undefined;

  private readonly log: Logger;
  private readonly stateDir: StateDir;
  private readonly overrides: LocalOverrides;
  private readonly state: ControlConfigState;
  private readonly snapshots: SnapshotKeeper;
  private applier: Applier | undefined;
  /** The revision in force, and who waits for a later one. */
  private applied = -1;
  private readonly linkIdentity: LinkIdentitySource | undefined;
  /** The link fingerprints last sent with an ack (JSON). */
  private reportedLink = '';
  private readonly waiters = new Set<{ revision: number; resolve: () => void }>();
  /** From the control plane's hello (or the saved snapshot). */
  private pullToken: string | undefined;
  private nodeId: string | undefined;
  private legit: LegitimacyLink | undefined;
  private reportIntervalMs = DEFAULT_REPORT_INTERVAL_MS;
  private legitimacyRemote = true;
  private readonly metrics: { connected?: Gauge; applySeconds?: Gauge } = {};
  private readonly timers: NodeJS.Timeout[] = [];
  private stopping: Promise<void> | undefined;

  /** Booting: until the configuration's source is chosen, a config message only says "the control plane answered". */
  private choosing = true;
  private readonly firstConfig = deferred<'control'>();
  private readonly firstFailure = deferred<'failed'>();
  /** Config messages wait for the ingress to be up. */
  private readonly ingressUp = deferred();

  private constructor(private readonly o: ControlledIngressOptions) {
    this.log = o.log ?? createLogger('info', { role: 'ingress' });
    // Every file here goes through StateDir (src/shared/state-file.ts): atomic, validated, and an
    // unwritable directory only turns persistence off (logged once, hopgate_ingress_state_persisting).
    this.stateDir = new StateDir(resolve(o.stateDir), this.log);
    // Every node has a link identity: the control plane records its fingerprint (acks) and exits pin it.
    const links = o.links ?? { identityDir: join(resolve(o.stateDir), 'link') };
    try {
      this.linkIdentity = new LinkIdentitySource(links.identityDir, 'hopgate ingress', (err) => this.log.warn({ err: err.message }, 'link identity unreadable; the key in force stays'));
    } catch (err) {
      // An unwritable state dir never stops the node (as for its other files): no links, exits are dialled over SOCKS5.
      this.log.warn({ dir: links.identityDir, err: String(err) }, 'link identity unavailable: links to exits off');
    }
    this.overrides = { ...(o.admin ? { metrics: o.admin } : {}), ...(this.linkIdentity ? { links } : {}) };
    this.state = new ControlConfigState(this.overrides);
    this.snapshots = new SnapshotKeeper(this.stateDir, this.log, () => this.state.saved(this.nodeId, o.controlUrl));
    this.ledger = new StatsLedger(o.statsGraceMs, o.now);
    this.client = new ControlStreamClient({
      url: o.controlUrl,
      token: o.token,
      revision: () => this.state.revision,
      ...(o.minBackoffMs !== undefined ? { minBackoffMs: o.minBackoffMs } : {}),
      ...(o.maxBackoffMs !== undefined ? { maxBackoffMs: o.maxBackoffMs } : {}),
      onHello: (m) => this.onHello(m),
      onConfig: (m) => this.onConfig(m),
      onDisconnect: (err, attempt) => {
        this.metrics.connected?.set(0);
        if (this.choosing) this.firstFailure.resolve('failed');
        if (attempt < 3 || attempt % 10 === 0) this.log.warn({ err: err.message, attempt }, 'config stream disconnected; reconnecting');
      },
      onRejected: (status) => this.log.error({ status }, 'the control plane refused this ingress token'),
      onLegitimacy: (m) => this.legit?.onRuleMessage(m),
    });
  }

  static async start(o: ControlledIngressOptions): Promise<ControlledIngressNode> {
    const node = new ControlledIngressNode(o);
    await node.boot();
    return node;
  }

  get phase(): ControlledPhase {
    return this.phase_;
  }
  get ports(): [number, number] {
    return this.applier!.ports;
  }
  get workers(): number {
    return this.applier!.workers;
  }
  get revision(): number {
    return this.applied;
  }
  get ingress(): Ingress | undefined {
    return this.applier?.ingress;
  }
  get tunnelPort(): number | undefined {
    return this.applier?.tunnelPort;
  }
  get legitimacy(): LegitimacyLink | undefined {
    return this.legit;
  }

  // ---- booting ----

  private async boot(): Promise<void> {
    const resumed = this.ledger.attach(this.stateDir, this.log);
    if (resumed.resumed) this.log.info({ epoch: this.ledger.epoch, pending: resumed.pending }, 'resumed unsent statistics');
    // Closed minutes go to the journal within a second, pulled or not: a crash loses no closed minute.
    this.every(1000, () => this.ledger.closeMinutes());
    this.client.start();

    await this.chooseSource();
    this.choosing = false;
    const config = this.state.config();
    try {
      this.applier = await this.startApplier(config);
    } catch (err) {
      this.client.stop();
      this.clearTimers();
      await this.ledger.close();
      this.phase_ = 'stopped';
      throw err;
    }
    const host = this.overrides.metrics?.host ?? config.metrics?.host ?? '127.0.0.1';
    if (this.applier.adminPort !== undefined) {
      this.adminUrl = this.o.adminUrl ?? `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host}:${this.applier.adminPort}`;
    }
    this.legitimacyFollows(config);
    this.every(1000, () => this.metrics.connected?.set(this.client.connected ? 1 : 0));
    this.every(this.o.linkReportMs ?? LINK_REPORT_MS, () => this.reportLinkChanges());
    this.phase_ = 'running';
    this.ingressUp.resolve();
    await this.inForce(this.state.revision);
    if (this.bootedFrom === 'control') this.snapshots.save();
  }

  /** The control plane's first snapshot, or the one on disk when it cannot be reached, or (neither) the control plane's whenever it comes. */
  private async chooseSource(): Promise<void> {
    const bootWait = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), this.o.bootWaitMs ?? 5000).unref());
    const outcome = await Promise.race([this.firstConfig.promise, this.firstFailure.promise, bootWait]);
    if (outcome === 'control' || this.state.ready) return;
    let saved = readSavedSnapshot(this.stateDir, this.log);
    if (saved) {
      try {
        this.state.applySnapshot(saved);
      } catch (err) {
        // Well-formed JSON but not a configuration this version accepts: as corrupt as a torn file.
        const file = this.stateDir.path(SNAPSHOT_FILE);
        const movedTo = moveAside(file);
        this.log.error({ file, movedTo: movedTo ?? null, reason: (err as Error).message }, 'saved control-plane snapshot is corrupt (moved aside); starting without it');
        saved = undefined;
      }
    }
    if (saved) {
      this.nodeId = saved.node;
      this.bootedFrom = 'disk';
      this.log.warn({ revision: saved.revision, savedAt: saved.savedAt, reason: outcome }, 'control plane unreachable; serving the last snapshot kept on disk');
    } else {
      this.log.warn({ controlUrl: this.o.controlUrl }, 'control plane unreachable and no snapshot on disk; waiting for it');
      await this.firstConfig.promise;
    }
  }

  private startApplier(config: IngressConfig): Promise<Applier> {
    const count = this.o.workers ?? config.workers ?? availableParallelism();
    const adminPort = this.o.admin?.port ?? config.metrics?.port ?? 0;
    const node: NodeContext = { pullToken: () => this.pullToken, nodeId: () => this.nodeId, legitimacy: () => this.legit };
    if (count > 1) {
      return startCluster({ count, state: this.state, adminPort, overrides: this.overrides, log: this.log, ledger: this.ledger, node, restart: this.o.restart });
    }
    return startSingle({ config, revision: this.state.revision, adminPort, log: this.log, ledger: this.ledger, node, now: this.o.now, addMetrics: (reg) => this.addMetrics(reg) });
  }

  /** Single-process mode: the node's gauges beside the ingress's. */
  private addMetrics(reg: Registry): void {
    const { ledger, stateDir } = this;
    this.metrics.connected = new Gauge({ name: 'hopgate_ingress_control_connected', help: 'The config stream to the control plane is up (1) or not (0)', registers: [reg] });
    new Counter({ name: 'hopgate_ingress_control_snapshots_total', help: 'Full snapshots received (connects and reconnects)', registers: [reg] });
    this.metrics.applySeconds = new Gauge({ name: 'hopgate_ingress_control_last_apply_seconds', help: 'Time to apply the last snapshot or delta', registers: [reg] });
    new Gauge({ name: 'hopgate_ingress_stats_pending_records', help: 'Closed statistics records waiting for the control plane', registers: [reg], collect() { this.set(ledger.stats().pending); } });
    new Gauge({ name: 'hopgate_ingress_state_persisting', help: 'The state dir takes writes (1) or the node runs without persistence (0: read-only, full, no permission)', registers: [reg], collect() { this.set(stateDir.persisting ? 1 : 0); } });
    new Gauge({ name: 'hopgate_ingress_stats_dropped_records', help: 'Statistics records dropped because too many were waiting', registers: [reg], collect() { this.set(ledger.dropped); } });
    const legit = (): LegitimacyLink | undefined => this.legit;
    new Gauge({ name: 'hopgate_legitimacy_reports_unacked', help: 'Evidence reports not yet acknowledged by the control plane', registers: [reg], collect() { this.set(legit()?.collector.unacked().length ?? 0); } });
  }

  // ---- running ----

  private onHello(m: HelloMessage): void {
    this.pullToken = m.pullToken;
    this.nodeId = m.node;
    this.legitimacyRemote = m.legitimacy !== undefined;
    if (this.legit) this.legit.remote = this.legitimacyRemote;
    if (m.legitimacy) {
      // Out of range it is not taken, for a link made later either (the running link logs it).
      if (isReportInterval(m.legitimacy.reportIntervalMs)) this.reportIntervalMs = m.legitimacy.reportIntervalMs;
      this.legit?.setReportInterval(m.legitimacy.reportIntervalMs);
    }
    this.log.info({ node: m.node, revision: m.revision, replica: m.replica }, 'config stream connected');
  }

  /** A snapshot or delta from the stream: true once it is in force (false: the client reconnects for a snapshot). */
  private async onConfig(m: SnapshotMessage | DeltaMessage): Promise<boolean> {
    const t0 = performance.now();
    let cfg: IngressConfig | undefined;
    try {
      cfg = m.type === 'snapshot' ? this.state.applySnapshot(m) : this.state.applyDelta(m);
    } catch (err) {
      this.log.error({ err: (err as Error).message, revision: m.revision }, 'configuration from the control plane rejected; keeping the one in force');
      return false;
    }
    if (!cfg) return false;
    if (this.choosing) {
      this.firstConfig.resolve('control');
      return true;
    }
    await this.ingressUp.promise;
    await this.applier!.apply(m, cfg, m.revision);
    this.legitimacyFollows(cfg);
    this.metrics.applySeconds?.set((performance.now() - t0) / 1000);
    await this.inForce(m.revision);
    return true;
  }

  private async inForce(revision: number): Promise<void> {
    this.applied = revision;
    for (const w of this.waiters) {
      if (revision >= w.revision) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
    await this.ackNow(revision);
    this.snapshots.schedule();
  }

  /** Source legitimacy: a gate in this process (single) or in each worker, one link to the control plane here. */
  private legitimacyFollows(cfg: IngressConfig): void {
    const gate = syncLegitimacy(this.applier?.ingress?.runtime, cfg, this.nodeId);
    if (gate === 'off') {
      this.legit?.stop();
      this.legit = undefined;
      return;
    }
    if (this.legit) return;
    const applier = this.applier;
    this.legit = new LegitimacyLink({
      ingressId: this.nodeId!,
      config: cfg.legitimacy,
      reportIntervalMs: this.reportIntervalMs,
      post: (body) => this.client.postLegitimacy(body),
      log: this.log,
      ...(gate !== 'on' ? { gate } : { relay: (msg) => applier?.relay?.(msg) }),
    });
    this.legit.remote = this.legitimacyRemote;
    this.legit.start();
  }

  waitForRevision(revision: number, timeoutMs = 10_000): Promise<void> {
    if (this.applied >= revision) return Promise.resolve();
    return new Promise((resolveWait, reject) => {
      const w = {
        revision,
        resolve: () => {
          clearTimeout(t);
          resolveWait();
        },
      };
      const t = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`revision ${revision} not in force within ${timeoutMs} ms (at ${this.applied})`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  // ---- draining ----

  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  private async drain(): Promise<void> {
    this.phase_ = 'draining';
    this.legit?.stop();
    this.client.stop();
    await this.applier?.stop();
    this.clearTimers();
    await this.snapshots.settle();
    await this.ledger.close();
    this.phase_ = 'stopped';
  }

  /** Acknowledge `revision`, with where this node answers pulls and its link fingerprints (a staged next key too). */
  private async ackNow(revision: number): Promise<void> {
    const linkFingerprints = this.linkFingerprints();
    await this.client.ack({ revision, ...(this.adminUrl ? { adminUrl: this.adminUrl } : {}), ...(linkFingerprints ? { linkFingerprints } : {}) });
    if (linkFingerprints) this.reportedLink = JSON.stringify(linkFingerprints);
  }

  private linkFingerprints(): string[] | undefined {
    try {
      return this.linkIdentity?.fingerprints();
    } catch (err) {
      this.log.warn({ err: String(err) }, 'link identity unreadable; fingerprints not reported');
      return undefined;
    }
  }

  /** A key staged or promoted (`hopgate link-key`) is reported within seconds, not at the next revision. */
  private reportLinkChanges(): void {
    if (this.applied < 0) return;
    const now = this.linkFingerprints();
    if (now && JSON.stringify(now) !== this.reportedLink) void this.ackNow(this.applied).catch(() => undefined);
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }

  private clearTimers(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
  }
}

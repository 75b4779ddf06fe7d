/**
 * An ingress node fed by the control plane (`hopgate ingress --control URL
 * --token-file F`): the config stream instead of a YAML file.
 *
 * - Boot: the first snapshot from the control plane, or — when it cannot be
 *   reached (refused, or nothing within `bootWaitMs`) — the last snapshot kept
 *   on disk (`<state-dir>/control-snapshot.json`, 0600). With neither, it waits.
 * - Changes: every snapshot and delta is applied through Ingress.reload (live
 *   connections keep theirs), then acknowledged, then written to disk.
 * - Statistics: a ledger per node (see stats.ts), answered at GET /v1/stats on
 *   the admin server to the control plane holding this node's stream.
 * - Workers: with more than one, this process holds the stream and the ledger
 *   and runs no customer listener; worker processes (worker.ts) get the
 *   configuration and deltas over IPC, send usage batches back, and forward
 *   pulls to it. It holds the reverse tunnel port and hands its connections to
 *   the workers (reverse/tunnel-dispatch.ts).
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, type Registry } from 'prom-client';
import { Ingress } from '../ingress.js';
import { createLogger, type Logger } from '../../shared/log.js';
import type { IngressConfig } from '../../shared/schema/ingress-config.js';
import type { DeltaMessage, SnapshotMessage } from '../../shared/control-protocol.js';
import { QuotaAggregator, SYNC_INTERVAL_MS, type QuotaUsageMsg } from '../guard/quota.js';
import { ControlConfigState, readSavedSnapshot, SNAPSHOT_FILE, writeSavedSnapshot, type LocalOverrides } from './config-state.js';
import { ControlStreamClient } from './stream-client.js';
import { LEDGER_FILE, SessionMeter, StatsLedger, type MeterBatchMsg } from './stats.js';
import { moveAside, StateDir } from '../../shared/state-file.js';
import { LegitimacyGate } from '../guard/legitimacy-gate.js';
import { LegitimacyLink, type LegitimacyEvidenceMsg, type LegitimacyRulesMsg } from './legitimacy-link.js';
import { primaryTunnel, type TunnelConnMsg, type TunnelHelloMsg, type TunnelKeysMsg, type TunnelLoadMsg } from '../reverse/tunnel-dispatch.js';
import { relayAuthEvent, type AuthEventMsg } from '../auth/throttle-sync.js';

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
}

/** The legitimacy link of a node, created once the node id is known and while `legitimacy.enabled`. */
interface LegitimacyHolder {
  link: LegitimacyLink | undefined;
}

export interface ControlledIngress {
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

/** Control messages between the primary and its workers. */
export type PrimaryToWorker =
  | { type: 'hopgate:control:init'; revision: number; config: SnapshotMessage['config']; overrides: LocalOverrides; adminPort: number; nodeId: string | undefined }
  | { type: 'hopgate:control:msg'; msg: SnapshotMessage | DeltaMessage }
  | { type: 'hopgate:stats:answer'; id: number; status: number; body: string }
  | LegitimacyRulesMsg
  | TunnelConnMsg
  | TunnelKeysMsg
  | TunnelHelloMsg
  | AuthEventMsg;
export type WorkerToPrimary =
  | { type: 'booting' }
  | { type: 'ready'; adminPort: number | undefined; ports: number[] }
  | { type: 'failed'; error: string }
  | { type: 'hopgate:control:applied'; revision: number }
  | { type: 'hopgate:control:resync' }
  | { type: 'hopgate:stats:pull'; id: number; auth: string; url: string }
  | MeterBatchMsg
  | QuotaUsageMsg
  | AuthEventMsg
  | LegitimacyEvidenceMsg
  | TunnelLoadMsg;

interface Applier {
  readonly ports: [number, number];
  readonly workers: number;
  readonly adminPort: number | undefined;
  readonly ingress: Ingress | undefined;
  readonly tunnelPort: number | undefined;
  apply(m: SnapshotMessage | DeltaMessage, cfg: IngressConfig, revision: number): Promise<void>;
  /** Cluster: send a message to every worker. */
  relay?(m: PrimaryToWorker): void;
  stop(): Promise<void>;
}

function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * The statistics endpoint: GET /v1/stats?after=EPOCH:SEQ&limit=N with the pull token.
 * Minutes that are due close first, and the answer waits until they are in the journal
 * (a record is offered only once a crash cannot lose it).
 */
export async function answerStatsPull(url: string, auth: string, pullToken: string | undefined, ledger: StatsLedger): Promise<{ status: number; body: string }> {
  if (!pullToken || !sameSecret(auth, `Bearer ${pullToken}`)) return { status: 401, body: JSON.stringify({ error: { code: 'unauthorized', message: 'pull token required' } }) };
  const u = new URL(url, 'http://admin');
  const limit = Number(u.searchParams.get('limit') ?? 20_000);
  ledger.closeMinutes();
  await ledger.flushed();
  const pull = ledger.pull(u.searchParams.get('after') ?? undefined, Number.isFinite(limit) && limit > 0 ? Math.min(limit, 100_000) : 20_000);
  return { status: 200, body: JSON.stringify(pull) };
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(body);
}

export async function startControlledIngress(o: ControlledIngressOptions): Promise<ControlledIngress> {
  const log = o.log ?? createLogger('info', { role: 'ingress' });
  // Every file here goes through StateDir (src/shared/state-file.ts): atomic, validated, and an
  // unwritable directory only turns persistence off (logged once, hopgate_ingress_state_persisting).
  const stateDir = new StateDir(resolve(o.stateDir), log);
  const overrides: LocalOverrides = o.admin ? { metrics: o.admin } : {};
  const state = new ControlConfigState(overrides);
  const ledger = new StatsLedger(o.statsGraceMs, o.now);
  const resumed = ledger.attach(stateDir, log);
  if (resumed.resumed) log.info({ epoch: ledger.epoch, pending: resumed.pending }, 'resumed unsent statistics');
  // Closed minutes go to the journal within a second, pulled or not: a crash loses no closed minute.
  const closeTimer = setInterval(() => ledger.closeMinutes(), 1000);
  closeTimer.unref();

  let pullToken: string | undefined;
  let applier: Applier | undefined;
  let applied = -1;
  let nodeId: string | undefined;
  const waiters = new Set<{ revision: number; resolve: () => void }>();
  let saveTimer: NodeJS.Timeout | undefined;
  /** The snapshot write in flight (one at a time, the fsyncs off the event loop); a change meanwhile writes again after it. */
  let saving: Promise<void> | undefined;
  let saveAgain = false;
  const save = (): void => {
    clearTimeout(saveTimer);
    saveTimer = undefined;
    if (saving) {
      saveAgain = true;
      return;
    }
    saving = writeSavedSnapshot(stateDir, state.saved(nodeId, o.controlUrl))
      .then(
        () => undefined,
        (err: unknown) => log.error({ err: (err as Error).message }, 'could not keep the snapshot on disk'),
      )
      .finally(() => {
        saving = undefined;
        if (saveAgain) {
          saveAgain = false;
          save();
        }
      });
  };
  const scheduleSave = (): void => {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(save, 200);
    saveTimer.unref();
  };

  let booted: (() => void) | undefined;
  let bootFailed: (() => void) | undefined;
  const firstConfig = new Promise<'control'>((r) => (booted = () => r('control')));
  const firstFailure = new Promise<'failed'>((r) => (bootFailed = () => r('failed')));
  let started: () => void = () => undefined;
  const startedP = new Promise<void>((r) => (started = r));
  let choosing = true;

  const legit: LegitimacyHolder = { link: undefined };
  let reportIntervalMs = 10_000;
  let legitimacyRemote = true;
  const metrics = { connected: undefined as Gauge | undefined, reconnects: undefined as Counter | undefined, applySeconds: undefined as Gauge | undefined };
  let adminUrl: string | undefined;

  const inForce = async (revision: number): Promise<void> => {
    applied = revision;
    for (const w of waiters) {
      if (revision >= w.revision) {
        waiters.delete(w);
        w.resolve();
      }
    }
    await client.ack({ revision, ...(adminUrl ? { adminUrl } : {}) });
    scheduleSave();
  };

  const client = new ControlStreamClient({
    url: o.controlUrl,
    token: o.token,
    revision: () => state.revision,
    ...(o.minBackoffMs !== undefined ? { minBackoffMs: o.minBackoffMs } : {}),
    ...(o.maxBackoffMs !== undefined ? { maxBackoffMs: o.maxBackoffMs } : {}),
    onHello: (m) => {
      pullToken = m.pullToken;
      nodeId = m.node;
      legitimacyRemote = m.legitimacy !== undefined;
      if (legit.link) legit.link.remote = legitimacyRemote;
      if (m.legitimacy) {
        reportIntervalMs = m.legitimacy.reportIntervalMs;
        legit.link?.setReportInterval(reportIntervalMs);
      }
      log.info({ node: m.node, revision: m.revision, replica: m.replica }, 'config stream connected');
    },
    onConfig: async (m) => {
      const t0 = performance.now();
      let cfg: IngressConfig | undefined;
      try {
        cfg = m.type === 'snapshot' ? state.applySnapshot(m) : state.applyDelta(m);
      } catch (err) {
        log.error({ err: (err as Error).message, revision: m.revision }, 'configuration from the control plane rejected; keeping the one in force');
        return false;
      }
      if (!cfg) return false;
      if (choosing) {
        booted?.();
        return true;
      }
      await startedP;
      await applier!.apply(m, cfg, m.revision);
      syncLegitimacy(cfg);
      metrics.applySeconds?.set((performance.now() - t0) / 1000);
      await inForce(m.revision);
      return true;
    },
    onDisconnect: (err, attempt) => {
      metrics.connected?.set(0);
      if (choosing) bootFailed?.();
      if (attempt < 3 || attempt % 10 === 0) log.warn({ err: err.message, attempt }, 'config stream disconnected; reconnecting');
    },
    onRejected: (status) => log.error({ status }, 'the control plane refused this ingress token'),
    onLegitimacy: (m) => legit.link?.onRuleMessage(m),
  });
  client.start();

  const bootWait = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), o.bootWaitMs ?? 5000).unref());
  const outcome = await Promise.race([firstConfig, firstFailure, bootWait]);
  let bootedFrom: 'control' | 'disk' = 'control';
  if (outcome !== 'control' && !state.ready) {
    let saved = readSavedSnapshot(stateDir, log);
    if (saved) {
      try {
        state.applySnapshot(saved);
      } catch (err) {
        // Well-formed JSON but not a configuration this version accepts: as corrupt as a torn file.
        const movedTo = moveAside(stateDir.path(SNAPSHOT_FILE));
        log.error({ file: stateDir.path(SNAPSHOT_FILE), movedTo: movedTo ?? null, reason: (err as Error).message }, 'saved control-plane snapshot is corrupt (moved aside); starting without it');
        saved = undefined;
      }
    }
    if (saved) {
      nodeId = saved.node;
      bootedFrom = 'disk';
      log.warn({ revision: saved.revision, savedAt: saved.savedAt, reason: outcome }, 'control plane unreachable; serving the last snapshot kept on disk');
    } else {
      log.warn({ controlUrl: o.controlUrl }, 'control plane unreachable and no snapshot on disk; waiting for it');
      await firstConfig;
    }
  }
  choosing = false;

  const config = state.config();
  const workers = o.workers ?? config.workers ?? availableParallelism();
  const adminPort = o.admin?.port ?? config.metrics?.port ?? 0;
  try {
    applier =
      workers <= 1
        ? await startSingle(config, state.revision, adminPort, log, ledger, () => pullToken, o.now, (reg) => {
            metrics.connected = new Gauge({ name: 'hopgate_ingress_control_connected', help: 'The config stream to the control plane is up (1) or not (0)', registers: [reg] });
            metrics.reconnects = new Counter({ name: 'hopgate_ingress_control_snapshots_total', help: 'Full snapshots received (connects and reconnects)', registers: [reg] });
            metrics.applySeconds = new Gauge({ name: 'hopgate_ingress_control_last_apply_seconds', help: 'Time to apply the last snapshot or delta', registers: [reg] });
            new Gauge({ name: 'hopgate_ingress_stats_pending_records', help: 'Closed statistics records waiting for the control plane', registers: [reg], collect() { this.set(ledger.stats().pending); } });
            new Gauge({ name: 'hopgate_ingress_state_persisting', help: 'The state dir takes writes (1) or the node runs without persistence (0: read-only, full, no permission)', registers: [reg], collect() { this.set(stateDir.persisting ? 1 : 0); } });
            new Gauge({ name: 'hopgate_ingress_stats_dropped_records', help: 'Statistics records dropped because too many were waiting', registers: [reg], collect() { this.set(ledger.dropped); } });
            new Gauge({ name: 'hopgate_legitimacy_reports_unacked', help: 'Evidence reports not yet acknowledged by the control plane', registers: [reg], collect() { this.set(legit.link?.collector.unacked().length ?? 0); } });
          })
        : await startCluster(workers, state, adminPort, overrides, log, ledger, () => pullToken, () => nodeId, legit);
  } catch (err) {
    client.stop();
    clearInterval(closeTimer);
    await ledger.close();
    throw err;
  }
  const host = overrides.metrics?.host ?? config.metrics?.host ?? '127.0.0.1';
  if (applier.adminPort !== undefined) {
    adminUrl = o.adminUrl ?? `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host}:${applier.adminPort}`;
  }
  // Source legitimacy: a gate in this process (single) or in each worker, one link here.
  const syncLegitimacy = (cfg: IngressConfig): void => {
    const want = cfg.legitimacy.enabled && nodeId !== undefined;
    const rt = applier.ingress?.runtime;
    if (!want) {
      legit.link?.stop();
      legit.link = undefined;
      if (rt) rt.legitimacy = undefined;
      return;
    }
    if (legit.link) {
      rt?.legitimacy?.configure(cfg.legitimacy);
      return;
    }
    let gate: LegitimacyGate | undefined;
    if (rt) {
      gate = new LegitimacyGate(nodeId!, cfg.legitimacy);
      rt.legitimacy = gate;
    }
    legit.link = new LegitimacyLink({
      ingressId: nodeId!,
      config: cfg.legitimacy,
      reportIntervalMs,
      post: (body) => client.postLegitimacy(body),
      log,
      ...(gate ? { gate } : { relay: (msg) => applier.relay?.(msg) }),
    });
    legit.link.remote = legitimacyRemote;
    legit.link.start();
  };
  syncLegitimacy(config);
  const connectedTimer = setInterval(() => {
    metrics.connected?.set(client.connected ? 1 : 0);
  }, 1000);
  connectedTimer.unref();
  started();
  await inForce(state.revision);
  if (bootedFrom === 'control') save();

  return {
    ports: applier.ports,
    workers: applier.workers,
    bootedFrom,
    get revision() {
      return applied;
    },
    adminUrl,
    ingress: applier.ingress,
    get tunnelPort() {
      return applier.tunnelPort;
    },
    client,
    ledger,
    get legitimacy() {
      return legit.link;
    },
    waitForRevision(revision, timeoutMs = 10_000) {
      if (applied >= revision) return Promise.resolve();
      return new Promise((resolveWait, reject) => {
        const w = {
          revision,
          resolve: () => {
            clearTimeout(t);
            resolveWait();
          },
        };
        const t = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`revision ${revision} not in force within ${timeoutMs} ms (at ${applied})`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
    async stop() {
      clearInterval(connectedTimer);
      legit.link?.stop();
      client.stop();
      await applier.stop();
      clearInterval(closeTimer);
      if (saveTimer) save();
      while (saving) await saving;
      await ledger.close();
    },
  };
}

async function startSingle(
  config: IngressConfig,
  revision: number,
  adminPort: number,
  log: Logger,
  ledger: StatsLedger,
  pullToken: () => string | undefined,
  now: (() => number) | undefined,
  addMetrics: (reg: Registry) => void,
): Promise<Applier> {
  let meter: SessionMeter | undefined;
  const adminHandler = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== 'GET' || !req.url?.startsWith('/v1/stats')) return false;
    meter?.flush();
    void answerStatsPull(req.url, req.headers.authorization ?? '', pullToken(), ledger).then(
      (a) => send(res, a.status, a.body),
      (err: unknown) => send(res, 500, JSON.stringify({ error: { code: 'internal', message: (err as Error).message } })),
    );
    return true;
  };
  const ingress = await Ingress.start(config, log, { revision, adminPort, adminHandler, metrics: addMetrics });
  meter = new SessionMeter(ingress.runtime, (rows) => ledger.add(rows), 1000, now);
  const bound = ingress.ports();
  return {
    ports: [bound[0] ?? config.listen.ports[0], bound.at(-1) ?? config.listen.ports[1]],
    workers: 1,
    adminPort: ingress.adminPort,
    ingress,
    get tunnelPort() {
      return ingress.runtime.reverse?.tunnelPort;
    },
    async apply(_m, cfg, rev) {
      ingress.reload(cfg, rev);
    },
    async stop() {
      await ingress.shutdown();
      meter?.stop();
    },
  };
}

async function startCluster(
  count: number,
  state: ControlConfigState,
  adminPort: number,
  overrides: LocalOverrides,
  log: Logger,
  ledger: StatsLedger,
  pullToken: () => string | undefined,
  nodeId: () => string | undefined,
  legit: LegitimacyHolder,
): Promise<Applier> {
  const tunnel = primaryTunnel(log);
  await tunnel.follow(state.config(), true);
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: new URL('./worker.js', import.meta.url).pathname, args: [] });
  let stopping = false;
  const appliedBy = new Map<number, number>();
  const waiting = new Set<{ revision: number; resolve: () => void }>();
  const quota = new QuotaAggregator();
  const fresh = new Set<number>();
  let boundAdmin: number | undefined;
  let ports: number[] = [];
  const mine = new Set<Worker>();

  const settle = (): void => {
    for (const w of waiting) {
      const live = [...mine].filter((x) => x.isConnected());
      if (live.every((x) => (appliedBy.get(x.id) ?? -1) >= w.revision)) {
        waiting.delete(w);
        w.resolve();
      }
    }
  };
  const quotaTimer = setInterval(() => {
    const live = [...mine].filter((w) => w.isConnected());
    const out = quota.flush(live.map((w) => w.id), fresh);
    fresh.clear();
    for (const w of live) {
      const msg = out.get(w.id);
      if (msg) w.send(msg);
    }
  }, SYNC_INTERVAL_MS);
  quotaTimer.unref();

  const spawn = (): Promise<void> =>
    new Promise((resolveSpawn, reject) => {
      const w = cluster.fork();
      mine.add(w);
      w.on('message', (m: WorkerToPrimary) => {
        switch (m.type) {
          case 'booting': // its message handler is in place: send the configuration
            w.send({ type: 'hopgate:control:init', revision: state.revision, config: state.input(), overrides, adminPort, nodeId: nodeId() } satisfies PrimaryToWorker); // port 0: every worker asks for 0 and shares one port
            return;
          case 'hopgate:quota:usage':
            return quota.add(w.id, m);
          case 'hopgate:legit:evidence':
            return legit.link?.fromWorker(w.id, m);
          case 'hopgate:auth:event':
            return relayAuthEvent(w, m, mine);
          case 'hopgate:stats:batch':
            return ledger.add(m.rows);
          case 'hopgate:stats:pull': {
            const answer = (a: { status: number; body: string }): void => {
              if (w.isConnected()) w.send({ type: 'hopgate:stats:answer', id: m.id, status: a.status, body: a.body } satisfies PrimaryToWorker);
            };
            void answerStatsPull(m.url, m.auth, pullToken(), ledger).then(answer, (err: unknown) =>
              answer({ status: 500, body: JSON.stringify({ error: { code: 'internal', message: (err as Error).message } }) }),
            );
            return;
          }
          case 'hopgate:control:applied':
            appliedBy.set(w.id, m.revision);
            return settle();
          case 'hopgate:control:resync':
            w.send({ type: 'hopgate:control:msg', msg: { type: 'snapshot', revision: state.revision, config: state.input() } } satisfies PrimaryToWorker);
            return;
          case 'ready':
            boundAdmin ??= m.adminPort;
            ports = m.ports;
            appliedBy.set(w.id, state.revision);
            fresh.add(w.id);
            for (const r of legit.link?.replay() ?? []) w.send(r satisfies PrimaryToWorker); // the rules in force
            return resolveSpawn();
          case 'failed':
            return reject(new Error(m.error));
          case 'hopgate:reverse:load':
            return; // the tunnel dispatcher's
        }
      });
      w.on('exit', (code) => {
        mine.delete(w);
        appliedBy.delete(w.id);
        legit.link?.workerGone(w.id);
        settle();
        if (!stopping) {
          log.error({ worker: w.process.pid, code }, 'ingress worker exited; restarting');
          void spawn().catch(() => undefined);
        }
      });
    });
  await Promise.all(Array.from({ length: count }, spawn)).catch((err: unknown) => {
    tunnel.close();
    throw err;
  });
  const cfg = state.config();
  return {
    ports: [ports[0] ?? cfg.listen.ports[0], ports.at(-1) ?? cfg.listen.ports[1]],
    workers: count,
    adminPort: boundAdmin,
    ingress: undefined,
    get tunnelPort() {
      return tunnel.value?.port;
    },
    relay(m) {
      for (const w of mine) if (w.isConnected()) w.send(m);
    },
    async apply(m, cfg, revision) {
      await tunnel.follow(cfg); // the first reverse exit may come in a delta; listening before the workers take it
      for (const w of mine) if (w.isConnected()) w.send({ type: 'hopgate:control:msg', msg: m } satisfies PrimaryToWorker);
      return new Promise<void>((resolveApplied) => {
        const entry = { revision, resolve: resolveApplied };
        waiting.add(entry);
        settle();
        setTimeout(() => {
          if (waiting.delete(entry)) {
            log.warn({ revision }, 'not every worker confirmed the revision within 5 s');
            resolveApplied();
          }
        }, 5000).unref();
      });
    },
    async stop() {
      stopping = true;
      tunnel.close();
      clearInterval(quotaTimer);
      await Promise.all(
        [...mine].map((w) => new Promise<void>((resolveExit) => (!w.isDead() ? (w.once('exit', () => resolveExit()), w.process.kill('SIGTERM')) : resolveExit()))),
      );
    },
  };
}

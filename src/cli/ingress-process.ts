/**
 * Runs the ingress from a YAML file in this process, or in several worker
 * processes sharing the same ports (node:cluster, kernel-balanced accepts;
 * the reverse tunnel port is the primary's, see reverse/tunnel-dispatch.ts).
 * Reload on SIGHUP or when the file changes; drain on SIGTERM/SIGINT.
 */
import cluster from 'node:cluster';
import { watch } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Ingress } from '../ingress/ingress.js';
import { loadIngressYaml } from '../ingress/config/from-yaml.js';
import { createLogger, type Logger } from '../shared/log.js';
import { QuotaAggregator, SYNC_INTERVAL_MS, type QuotaSync, type QuotaTotalsMsg, type QuotaUsageMsg } from '../ingress/guard/quota.js';
import { primaryTunnel } from '../ingress/reverse/tunnel-dispatch.js';
import { relayAuthEvent, shareThrottle, type AuthEventMsg } from '../ingress/auth/throttle-sync.js';

export interface RunningIngress {
  readonly ports: [number, number];
  readonly workers: number;
  /** The reverse tunnel port, once listening (undefined without reverse exits). */
  readonly tunnelPort: number | undefined;
  stop(): Promise<void>;
}

type WorkerMsg = { type: 'ready'; ports: number[] } | { type: 'failed'; error: string };

/** Entry for a worker (or the single process). */
async function runWorker(configPath: string, log: Logger): Promise<Ingress> {
  const ingress = await Ingress.start(loadIngressYaml(configPath), log, { reverseFromPrimary: cluster.isWorker });
  // A cluster worker: quota usage is summed across workers by the primary.
  if (cluster.isWorker) ingress.runtime.quota.attach(workerQuotaSync());
  if (cluster.isWorker) shareThrottle(ingress.runtime.auth.throttle, 'proxy'); // auth failures count across workers
  const reload = (): void => {
    try {
      ingress.reload(loadIngressYaml(configPath));
    } catch (err) {
      // A bad file is refused: the last good configuration stays in force.
      log.error({ err: (err as Error).message }, 'configuration rejected; keeping the previous one');
    }
  };
  process.on('message', (m: unknown) => {
    if ((m as { type?: string })?.type === 'reload') reload();
  });
  return Object.assign(ingress, { reloadFromFile: reload });
}

export async function startIngressProcesses(configPath: string, opts: { workers?: number; log?: Logger } = {}): Promise<RunningIngress> {
  const config = loadIngressYaml(configPath);
  const log = opts.log ?? createLogger(config.log.level, { role: 'ingress' });
  const workers = opts.workers ?? config.workers ?? availableParallelism();
  let ports = config.listen.ports;

  if (workers <= 1) {
    const ingress = (await runWorker(configPath, log)) as Ingress & { reloadFromFile(): void };
    const unwatch = watchConfig(configPath, () => ingress.reloadFromFile());
    const onHup = (): void => ingress.reloadFromFile();
    process.on('SIGHUP', onHup);
    const bound = ingress.ports(); // the real ports when the file says 0 (ephemeral)
    return {
      ports: [bound[0] ?? ports[0], bound.at(-1) ?? ports[1]],
      workers: 1,
      get tunnelPort() {
        return ingress.runtime.reverse?.tunnelPort;
      },
      stop: async () => {
        unwatch();
        process.off('SIGHUP', onHup);
        await ingress.shutdown();
      },
    };
  }

  const tunnel = primaryTunnel(log);
  await tunnel.follow(config, true);
  cluster.schedulingPolicy = cluster.SCHED_NONE; // let the kernel spread accepts; no hop through the primary
  cluster.setupPrimary({ exec: new URL('./ingress-worker.js', import.meta.url).pathname, args: [configPath] });
  let stopping = false;
  // Quota across workers: usage deltas in, each worker's "used by the others" out.
  const quota = new QuotaAggregator();
  const fresh = new Set<number>();
  const quotaTimer = setInterval(() => {
    const live = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined && w.isConnected());
    const out = quota.flush(live.map((w) => w!.id), fresh);
    fresh.clear();
    for (const w of live) {
      const msg = out.get(w!.id);
      if (msg) w!.send(msg);
    }
  }, SYNC_INTERVAL_MS);
  quotaTimer.unref();
  const spawn = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const w = cluster.fork();
      w.on('message', (m: WorkerMsg | QuotaUsageMsg | AuthEventMsg) => {
        if (m.type === 'hopgate:quota:usage') return quota.add(w.id, m);
        if (m.type === 'hopgate:auth:event') return relayAuthEvent(w, m, Object.values(cluster.workers ?? {}));
        if (m.type === 'ready') {
          ports = [m.ports[0] ?? ports[0], m.ports.at(-1) ?? ports[1]]; // the real ports when the file says 0 (ephemeral)
          fresh.add(w.id); // it hears every current figure at the next flush (a restarted worker starts at zero)
          resolve();
        } else if (m.type === 'failed') reject(new Error(m.error));
      });
      w.on('exit', (code) => {
        if (!stopping) {
          log.error({ worker: w.process.pid, code }, 'ingress worker exited; restarting');
          void spawn().catch(() => undefined);
        }
      });
    });
  await Promise.all(Array.from({ length: workers }, spawn)).catch((err: unknown) => {
    tunnel.close();
    throw err;
  });
  const broadcast = (): void => {
    try {
      // The first reverse exit may come in a reload. follow() logs its own failure; this catch owns the rest.
      tunnel.follow(loadIngressYaml(configPath)).catch((err: unknown) => log.error({ err: String(err) }, 'reverse tunnel could not start'));
    } catch {
      // A bad file: every worker refuses it and says why.
    }
    for (const w of Object.values(cluster.workers ?? {})) w?.send({ type: 'reload' });
  };
  const unwatch = watchConfig(configPath, broadcast);
  process.on('SIGHUP', broadcast);
  return {
    ports,
    workers,
    get tunnelPort() {
      return tunnel.value?.port;
    },
    stop: async () => {
      stopping = true;
      tunnel.close();
      clearInterval(quotaTimer);
      unwatch();
      process.off('SIGHUP', broadcast);
      await Promise.all(
        Object.values(cluster.workers ?? {}).map(
          (w) => new Promise<void>((resolve) => (w && !w.isDead() ? (w.once('exit', () => resolve()), w.process.kill('SIGTERM')) : resolve())),
        ),
      );
    },
  };
}

/** Worker process body (see ingress-worker.ts). */
export async function workerMain(configPath: string): Promise<void> {
  const config = loadIngressYaml(configPath);
  const log = createLogger(config.log.level, { role: 'ingress' });
  try {
    const ingress = await runWorker(configPath, log);
    process.send?.({ type: 'ready', ports: ingress.ports() } satisfies WorkerMsg);
    const stop = (): void =>
      void ingress.shutdown().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err: String(err) }, 'ingress worker shutdown failed');
          process.exit(1);
        },
      );
    process.once('SIGTERM', stop);
    process.once('SIGINT', () => undefined); // the primary decides
  } catch (err) {
    process.send?.({ type: 'failed', error: (err as Error).message } satisfies WorkerMsg);
    process.exit(1);
  }
}

/** A worker's IPC channel to the primary, for quota usage. */
function workerQuotaSync(): QuotaSync {
  return {
    send: (msg) => {
      if (process.connected) process.send?.(msg);
    },
    onMessage: (handler) => {
      const listener = (m: unknown): void => {
        if ((m as { type?: string })?.type === 'hopgate:quota:others') handler(m as QuotaTotalsMsg);
      };
      process.on('message', listener);
      return () => void process.off('message', listener);
    },
  };
}

function watchConfig(path: string, onChange: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  try {
    const w = watch(path, () => {
      clearTimeout(timer);
      timer = setTimeout(onChange, 200); // editors write in several steps
    });
    return () => {
      clearTimeout(timer);
      w.close();
    };
  } catch {
    return () => undefined;
  }
}

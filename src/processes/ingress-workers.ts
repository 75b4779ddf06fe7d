/**
 * `hopgate ingress --config F [--workers N]`: the ingress from a YAML file in
 * this process, or in N worker processes sharing the same ports (the
 * supervisor; the reverse tunnel port is the primary's, see
 * ingress/reverse/tunnel-dispatch.ts). Reload on SIGHUP or when the file
 * changes; the caller drains it (stop) on SIGTERM/SIGINT.
 */
import { availableParallelism } from 'node:os';
import { loadIngressYaml } from '../ingress/config/from-yaml.js';
import { createLogger, type Logger } from '../shared/log.js';
import type { BackoffPolicy } from '../shared/backoff.js';
import { configSignature, startYamlIngress, watchConfig } from './yaml-ingress.js';
import { IngressCluster } from './ingress-cluster.js';

export interface RunningIngress {
  readonly ports: [number, number];
  readonly workers: number;
  /** The reverse tunnel port, once listening (undefined without reverse exits). */
  readonly tunnelPort: number | undefined;
  stop(): Promise<void>;
}

export interface IngressProcessOptions {
  /** Default: the file's `workers`, else one per CPU. */
  readonly workers?: number | undefined;
  readonly log?: Logger;
  /** How a crashed worker is restarted (default: supervisor.ts). */
  readonly restart?: BackoffPolicy;
}

export async function startIngressProcesses(configPath: string, opts: IngressProcessOptions = {}): Promise<RunningIngress> {
  const since = configSignature(configPath); // before the first read: an edit while starting is reloaded
  const config = loadIngressYaml(configPath);
  const log = opts.log ?? createLogger(config.log.level, { role: 'ingress' });
  const workers = opts.workers ?? config.workers ?? availableParallelism();
  return workers <= 1 ? startSingle(configPath, config.listen.ports, log, since) : startWorkers(configPath, config.listen.ports, workers, log, opts.restart, since);
}

async function startSingle(configPath: string, filePorts: [number, number], log: Logger, since: string): Promise<RunningIngress> {
  const { ingress, reload } = await startYamlIngress(configPath, log, false);
  const unwatch = watchConfig(configPath, reload, since);
  process.on('SIGHUP', reload);
  const bound = ingress.ports(); // the real ports when the file says 0 (ephemeral)
  return {
    ports: [bound[0] ?? filePorts[0], bound.at(-1) ?? filePorts[1]],
    workers: 1,
    get tunnelPort() {
      return ingress.runtime.reverse?.tunnelPort;
    },
    stop: async () => {
      unwatch();
      process.off('SIGHUP', reload);
      await ingress.shutdown();
    },
  };
}

async function startWorkers(configPath: string, filePorts: [number, number], count: number, log: Logger, restart: BackoffPolicy | undefined, since: string): Promise<RunningIngress> {
  let ports = filePorts;
  const pool = new IngressCluster({
    count,
    exec: new URL('./yaml-worker-main.js', import.meta.url).pathname,
    args: [configPath],
    log,
    ...(restart ? { restart } : {}),
    onMessage: (_w, m) => {
      // The real ports when the file says 0 (ephemeral): every worker binds the same ones.
      if (m.type === 'hopgate:worker:ready') ports = [m.ports[0] ?? ports[0], m.ports.at(-1) ?? ports[1]];
    },
  });
  await pool.start(loadIngressYaml(configPath));
  const broadcast = (): void => {
    try {
      // The first reverse exit may come in a reload. follow() logs its own failure; this catch owns the rest.
      pool.tunnel.follow(loadIngressYaml(configPath)).catch((err: unknown) => log.error({ err: String(err) }, 'reverse tunnel could not start'));
    } catch {
      // A bad file: every worker refuses it and says why.
    }
    pool.supervisor.broadcast({ type: 'hopgate:config:reload' });
  };
  const unwatch = watchConfig(configPath, broadcast, since);
  process.on('SIGHUP', broadcast);
  return {
    ports,
    workers: count,
    get tunnelPort() {
      return pool.tunnelPort;
    },
    stop: async () => {
      unwatch();
      process.off('SIGHUP', broadcast);
      await pool.stop();
    },
  };
}

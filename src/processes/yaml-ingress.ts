/**
 * An ingress run from a YAML file, in this process: the single-process mode,
 * and the body of each worker of `hopgate ingress --config F --workers N`.
 * A reload reads the file again; a bad file is refused and the last good
 * configuration stays in force.
 */
import { watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { Ingress } from '../ingress/ingress.js';
import { loadIngressYaml } from '../ingress/config/from-yaml.js';
import type { Logger } from '../shared/log.js';
import { shareThrottle } from '../ingress/auth/throttle-sync.js';
import { workerQuotaSync, workerReverseLink, workerThrottleSync } from './worker-channel.js';
import { workerMetrics } from './cluster-metrics.js';

export interface YamlIngress {
  readonly ingress: Ingress;
  /** Read the file again and apply it (refused, logged, when it is bad). */
  readonly reload: () => void;
}

/** `asWorker`: a worker of a primary (quota and auth failures are shared with the other workers; the primary holds the tunnel port). */
export async function startYamlIngress(configPath: string, log: Logger, asWorker: boolean): Promise<YamlIngress> {
  const ingress = await Ingress.start(loadIngressYaml(configPath), log, asWorker ? { reverseFromPrimary: workerReverseLink(), scrape: workerMetrics } : {});
  if (asWorker) {
    ingress.runtime.quota.attach(workerQuotaSync()); // quota usage is summed across workers by the primary
    shareThrottle(ingress.runtime.auth.throttle, 'proxy', workerThrottleSync()); // auth failures count across workers
  }
  return {
    ingress,
    reload: () => {
      try {
        ingress.reload(loadIngressYaml(configPath));
      } catch (err) {
        log.error({ err: (err as Error).message }, 'configuration rejected; keeping the previous one');
      }
    },
  };
}

/**
 * Call `onChange` after the file changed (debounced: editors write in several steps). Returns an unwatch.
 * The directory is watched, not the file: a watch on the file follows its inode, so after the first
 * rename over it (config management, `mv f.tmp f`, many editors' saves) it heard nothing more.
 */
export function watchConfig(path: string, onChange: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const name = basename(path);
  try {
    const w = watch(dirname(resolve(path)), (_event, changed) => {
      if (changed !== name) return;
      clearTimeout(timer);
      timer = setTimeout(onChange, 200);
    });
    w.on('error', () => w.close()); // the directory gone: no more reloads, not a crash
    return () => {
      clearTimeout(timer);
      w.close();
    };
  } catch {
    return () => undefined;
  }
}

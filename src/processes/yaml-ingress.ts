/**
 * An ingress run from a YAML file, in this process: the single-process mode,
 * and the body of each worker of `hopgate ingress --config F --workers N`.
 * A reload reads the file again; a bad file is refused and the last good
 * configuration stays in force.
 */
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, statSync, watch, type FSWatcher } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { dirname, resolve } from 'node:path';
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
 * Call `onChange` when the content at `path` changes (from `since`, the signature taken before the
 * configuration was read: an edit made while starting counts). Heard from watches on the path's directory
 * and on its target's (a ConfigMap mount swaps `..data`; a symlink's target lives elsewhere), re-armed when
 * either is replaced, with a 2 s poll as the backstop (a directory removed and made again, an event
 * missed). Debounced (editors write in several steps), but never held back past 1 s by a busy neighbour
 * (a log beside the config); one change, one call. A file briefly missing calls nothing. Keeps no process
 * alive. Returns an unwatch.
 */
export function watchConfig(path: string, onChange: () => void, since?: string): () => void {
  const abs = resolve(path);
  let last = since ?? configSignature(abs);
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let firstEventAt = 0;
  const watchers = new Map<string, FSWatcher>(); // by directory and its inode: a replaced one gets a new watch
  const schedule = (): void => {
    const now = performance.now();
    if (timer !== undefined && now - firstEventAt >= 1000) return; // due soon: events keep coming, the check does not wait for them to stop
    if (timer === undefined) firstEventAt = now;
    clearTimeout(timer);
    timer = setTimeout(check, 200).unref();
  };
  const arm = (): void => {
    const want = new Map<string, string>(); // key -> directory
    for (const dir of new Set([dirname(abs), dirname(realOr(abs))])) {
      try {
        const st = statSync(dir);
        want.set(`${st.dev}:${st.ino}:${st.birthtimeMs}:${dir}`, dir);
      } catch {
        // Missing for now: the poll arms it when it is back.
      }
    }
    for (const [key, w] of watchers) {
      if (want.has(key)) continue;
      w.close();
      watchers.delete(key);
    }
    for (const [key, dir] of want) {
      if (watchers.has(key)) continue;
      try {
        const w = watch(dir, schedule).unref();
        w.on('error', () => {
          w.close();
          watchers.delete(key);
          schedule(); // the check re-arms it if it can
        });
        watchers.set(key, w);
      } catch {
        // Gone between the stat and the watch: the poll arms it.
      }
    }
  };
  function check(): void {
    timer = undefined;
    if (closed) return;
    arm();
    const now = configSignature(abs);
    if (now === 'missing' || now === last) return;
    last = now;
    onChange();
  }
  arm();
  // The poll reads the file only when its metadata moved (a replaced directory shows as a new inode);
  // the watches' checks always read it (a same-size edit within the timestamp's granularity).
  let seen = metadataOf(abs);
  const poll = setInterval(() => {
    const now = metadataOf(abs);
    if (now === seen) return;
    seen = now;
    if (timer === undefined) check();
  }, 2000).unref();
  if (configSignature(abs) !== last) schedule(); // changed since `since`
  return () => {
    closed = true;
    clearTimeout(timer);
    clearInterval(poll);
    for (const w of watchers.values()) w.close();
    watchers.clear();
  };
}

/**
 * What a reload would read at `path`: a hash of its content, or 'missing'. Content, not times: a same-size
 * edit within a filesystem's timestamp granularity still counts, and a touch or chmod does not.
 */
export function configSignature(path: string): string {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('base64');
  } catch {
    return 'missing';
  }
}

/** Where `path` leads and what the file there is (inode, size, times): cheap to compare, 'missing' when unreadable. */
function metadataOf(path: string): string {
  try {
    const real = realpathSync(path);
    const st = statSync(real);
    return `${real}|${st.dev}:${st.ino}|${st.size}|${st.mtimeMs}|${st.ctimeMs}`;
  } catch {
    return 'missing';
  }
}

function realOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

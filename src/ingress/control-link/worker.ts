/**
 * A worker process of a control-plane-fed ingress (see controlled.ts): gets
 * its configuration and every delta from the primary over IPC, reports when
 * each is in force, sends usage batches and quota usage up, and forwards
 * statistics pulls that reach its admin port to the primary.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Ingress } from '../ingress.js';
import { createLogger } from '../../shared/log.js';
import type { QuotaSync, QuotaTotalsMsg } from '../guard/quota.js';
import { ControlConfigState } from './config-state.js';
import { SessionMeter } from './stats.js';
import type { PrimaryToWorker, WorkerToPrimary } from './controlled.js';
import { LegitimacyGate } from '../guard/legitimacy-gate.js';
import { shareThrottle } from '../auth/throttle-sync.js';
import type { IngressConfig } from '../../shared/schema/ingress-config.js';

const toPrimary = (m: WorkerToPrimary, cb?: () => void): void => {
  if (process.connected) process.send?.(m, undefined, {}, cb ? () => cb() : undefined);
  else cb?.();
};

let ingress: Ingress | undefined;
let meter: SessionMeter | undefined;
let state: ControlConfigState | undefined;
let nextPull = 1;
const pulls = new Map<number, ServerResponse>();
let queue: Promise<void> = Promise.resolve();
let nodeId: string | undefined;
let legitTimer: NodeJS.Timeout | undefined;

/** Source legitimacy in this worker: its own gate (buckets apply per worker); evidence and attack state go to the primary every second. */
function syncLegitimacy(cfg: IngressConfig): void {
  const rt = ingress?.runtime;
  if (!rt) return;
  if (!cfg.legitimacy.enabled || nodeId === undefined) {
    rt.legitimacy = undefined;
    clearInterval(legitTimer);
    legitTimer = undefined;
    return;
  }
  if (rt.legitimacy) return rt.legitimacy.configure(cfg.legitimacy);
  const gate = new LegitimacyGate(nodeId, cfg.legitimacy);
  rt.legitimacy = gate;
  let lastAttack = false;
  const send = (): void => {
    const g = rt.legitimacy;
    if (!g) return;
    g.advance();
    const counts = g.drainEvidence();
    const attack = g.enforcer.attackMode;
    const limited = g.enforcer.limitedTotal();
    if (counts.length === 0 && attack === lastAttack && !attack) return;
    lastAttack = attack;
    toPrimary({ type: 'hopgate:legit:evidence', counts, attack, limited });
  };
  gate.onAttackChange = () => send();
  legitTimer = setInterval(send, 1000);
  legitTimer.unref();
}

function adminHandler(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== 'GET' || !req.url?.startsWith('/v1/stats')) return false;
  meter?.flush();
  const id = nextPull++;
  pulls.set(id, res);
  res.on('close', () => pulls.delete(id));
  // After this worker's latest usage batch (IPC keeps order).
  toPrimary({ type: 'hopgate:stats:pull', id, auth: req.headers.authorization ?? '', url: req.url });
  return true;
}

const quotaSync: QuotaSync = {
  send: (msg) => toPrimary(msg),
  onMessage: (handler) => {
    const listener = (m: unknown): void => {
      if ((m as { type?: string })?.type === 'hopgate:quota:others') handler(m as QuotaTotalsMsg);
    };
    process.on('message', listener);
    return () => void process.off('message', listener);
  },
};

process.on('message', (m: PrimaryToWorker) => {
  switch (m?.type) {
    case 'hopgate:control:init':
      queue = queue.then(async () => {
        try {
          state = new ControlConfigState(m.overrides);
          const config = state.applySnapshot({ revision: m.revision, config: m.config });
          const log = createLogger(config.log.level, { role: 'ingress' });
          ingress = await Ingress.start(config, log, { revision: m.revision, adminPort: m.adminPort, adminHandler, reverseFromPrimary: true });
          ingress.runtime.quota.attach(quotaSync);
          shareThrottle(ingress.runtime.auth.throttle, 'proxy'); // auth failures count across workers
          nodeId = m.nodeId;
          syncLegitimacy(config);
          meter = new SessionMeter(ingress.runtime, (rows) => toPrimary({ type: 'hopgate:stats:batch', rows }));
          toPrimary({ type: 'ready', adminPort: ingress.adminPort, ports: ingress.ports() });
        } catch (err) {
          toPrimary({ type: 'failed', error: (err as Error).message }, () => process.exit(1));
        }
      });
      return;
    case 'hopgate:control:msg':
      queue = queue.then(() => {
        if (!state || !ingress) return;
        try {
          const cfg = m.msg.type === 'snapshot' ? state.applySnapshot(m.msg) : state.applyDelta(m.msg);
          if (!cfg) return toPrimary({ type: 'hopgate:control:resync' });
          ingress.reload(cfg, m.msg.revision);
          syncLegitimacy(cfg);
          toPrimary({ type: 'hopgate:control:applied', revision: m.msg.revision });
        } catch (err) {
          // The primary validated it; a failure here is local. Ask for the whole document again.
          process.stderr.write(`hopgate worker: revision ${m.msg.revision} not applied: ${(err as Error).message}\n`);
          toPrimary({ type: 'hopgate:control:resync' });
        }
      });
      return;
    case 'hopgate:legit:rules':
      ingress?.runtime.legitimacy?.apply(m.msg); // the primary has ACKed it
      return;
    case 'hopgate:stats:answer': {
      const res = pulls.get(m.id);
      pulls.delete(m.id);
      if (res && !res.writableEnded) {
        res.writeHead(m.status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(m.body);
      }
      return;
    }
  }
});

process.once('SIGTERM', () => {
  (async () => {
    await queue;
    clearInterval(legitTimer);
    await ingress?.shutdown();
    meter?.stop(); // the last batch goes to the primary before we leave
    toPrimary({ type: 'hopgate:stats:batch', rows: [] }, () => process.exit(0));
  })().catch((err: unknown) => {
    process.stderr.write(`hopgate worker: shutdown failed: ${String(err)}\n`);
    process.exit(1);
  });
});
process.once('SIGINT', () => undefined); // the primary decides
toPrimary({ type: 'booting' });

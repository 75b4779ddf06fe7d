/**
 * A reverse exit's own /metrics and /healthz (`hopgate exit --connect-to … --admin
 * HOST:PORT`): its work connections (and links) by state, its links, its tunnels, and what it has done —
 * read from the client at scrape time.
 */
import { Gauge, Registry } from 'prom-client';
import { mirroredCounter } from '../shared/mirrored-counter.js';
import type { ReverseExitClient } from './reverse-client.js';

export function reverseExitMetrics(client: ReverseExitClient, registry = new Registry()): Registry {
  new Gauge({
    name: 'hopgate_exit_work_connections',
    help: 'Work connections to the ingress by state: idle (registered, waiting for a request), dialing (TLS or registration under way), withdrawing (draining)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const s = client.stats();
      for (const state of ['idle', 'dialing', 'withdrawing'] as const) this.set({ state }, s[state]);
    },
  });
  new Gauge({ name: 'hopgate_exit_tunnels', help: 'Tunnels carried now: work connections carrying one, and streams on links', registers: [registry], collect() { this.set(client.stats().tunnels); } });
  new Gauge({ name: 'hopgate_exit_links', help: 'Links to the ingress taking new streams (also counted as idle work connections)', registers: [registry], collect() { this.set(client.stats().links); } });
  new Gauge({
    name: 'hopgate_exit_link_key_connections',
    help: 'Connections to the ingress by link key: current (the key new ones present), previous (dialled before a promotion; they drain once the current key has its full set)',
    labelNames: ['key'],
    registers: [registry],
    collect() {
      const { current, previous } = keyCounts(client);
      this.set({ key: 'current' }, current);
      this.set({ key: 'previous' }, previous);
    },
  });
  new Gauge({ name: 'hopgate_exit_refused_by_ingress', help: 'The ingress refused the last registration (wrong token, source not allowed…): 1, else 0', registers: [registry], collect() { this.set(client.lastRefusal === undefined ? 0 : 1); } });
  const c = client.counters;
  mirroredCounter(registry, 'hopgate_exit_registrations_total', 'Work connections the ingress accepted, and how many of them resumed the TLS session', 'session', () => ({ full: c.registered - c.resumed, resumed: c.resumed }));
  mirroredCounter(registry, 'hopgate_exit_requests_total', 'Requests the ingress handed over, by outcome: served, refused by this exit\'s target rules, or the target could not be reached', 'outcome', () => ({ served: c.served, refused: c.refusedTargets, failed: c.dialFailures }));
  return registry;
}

/** /healthz: ok while the exit holds an idle work connection at the ingress (it can take a request now); its link key and a rotation's progress. */
export function reverseExitHealth(client: ReverseExitClient): object {
  const s = client.stats();
  const key = client.linkKey === undefined ? {} : { linkKey: client.linkKey, previousKeyConnections: keyCounts(client).previous };
  return { ok: s.idle > 0, ...s, ...key, ...(client.lastRefusal !== undefined ? { lastRefusal: client.lastRefusal } : {}) };
}

function keyCounts(client: ReverseExitClient): { current: number; previous: number } {
  let current = 0;
  for (const k of client.connectionKeys()) if (k.fingerprint === client.linkKey) current++;
  return { current, previous: client.connectionKeys().length - current };
}

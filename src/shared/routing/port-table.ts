/**
 * The table a customer needs: which port (or `index`) gives which exit, and
 * who serves it right now when that exit is down. Built from the same
 * functions the connection path uses, so the table cannot disagree with routing.
 */
import { describePlace, type Exit } from '../exits/exit-index.js';
import type { CustomerRoute } from './customer-routes.js';
import { placeSlotPort } from './port-map.js';
import { replacementFor, replacementKey } from './replacement.js';

export interface PortExit {
  readonly id: string;
  readonly egressIp: string | null;
  readonly egressIp6: string | null;
  readonly country: string | null;
  /** "country us, city new_york", as routing errors say it. */
  readonly place: string;
}

export interface PortRow {
  readonly port: number | null;
  /** `index` username tag giving the same exit (sequential positions). */
  readonly index: number | null;
  /** "random", "random in us", or the exit's id. */
  readonly meaning: string;
  readonly exit: PortExit | null;
  /**
   * up | down (no replacement) | replaced (down, served by a replacement) | drained (served by
   * the replacement in servedBy, or by nothing) | (for random rows) how many candidates are up.
   */
  readonly state: string;
  readonly servedBy: PortExit | null;
  /** The port is served by another exit than its own (its exit is down or drained). */
  readonly replacement: boolean;
  /** false when the port is outside the ingress's listening range. */
  readonly listening: boolean;
}

export interface PortTable {
  readonly login: string;
  readonly scheme: 'sequential' | 'place';
  readonly portBase: number | null;
  readonly rows: readonly PortRow[];
}

function portExit(e: Exit): PortExit {
  return { id: e.id, egressIp: e.config.egressIp ?? null, egressIp6: e.config.egressIp6 ?? null, country: e.place.country ?? null, place: describePlace(e.place) };
}

/**
 * One customer's table. `listenPorts`: the ingress's listening range; `isUp`: health as the
 * caller knows it (an ingress: its probes; the control plane: what the ingresses reported).
 */
export function portTable(route: CustomerRoute, login: string, listenPorts: readonly [number, number], isUp: (e: Exit) => boolean): PortTable {
  // As routing sees it: a drained exit takes no new connections.
  const ok = (e: Exit): boolean => !e.drained && isUp(e);
  const [lo, hi] = listenPorts;
  const listening = (p: number | null): boolean => p !== null && p >= lo && p <= hi;
  const base = route.portBase ?? null;
  const rows: PortRow[] = [];
  const randomRow = (port: number | null, label: string, candidates: readonly Exit[]): PortRow => ({
    port,
    index: label === 'random' ? 0 : null,
    meaning: label,
    exit: null,
    state: `${candidates.filter(ok).length}/${candidates.length} up`,
    servedBy: null,
    replacement: false,
    listening: listening(port),
  });
  const exitRow = (port: number | null, index: number | null, e: Exit): PortRow => {
    const up = ok(e);
    const stand = up ? undefined : replacementFor(e, route, replacementKey(login, port === null ? `index ${index}` : `port ${port}`), ok);
    return {
      port,
      index,
      meaning: e.id,
      exit: portExit(e),
      state: up ? 'up' : e.drained ? 'drained' : stand ? 'replaced' : 'down',
      servedBy: up ? portExit(e) : stand ? portExit(stand) : null,
      replacement: stand !== undefined,
      listening: listening(port),
    };
  };
  rows.push(randomRow(base, 'random', route.exits.matching({})));
  const n = route.scheme === 'place' ? Math.min(route.exits.size, route.stride - 1) : route.exits.size;
  for (let i = 1; i <= n; i++) rows.push(exitRow(base === null ? null : base + i, i, route.exits.at(i - 1)!));
  if (route.scheme === 'place') {
    route.places.forEach((country, k) => {
      const first = placeSlotPort(route, k + 1) ?? null;
      const inPlace = route.exits.matching({ country });
      rows.push({ ...randomRow(first, `random in ${country}`, inPlace), index: null });
      inPlace.slice(0, route.stride - 1).forEach((e, i) => rows.push({ ...exitRow(first === null ? null : first + i + 1, null, e) }));
    });
  }
  return { login, scheme: route.scheme, portBase: base, rows };
}

/** Fixed-width text for terminals. */
export function formatPortTable(t: PortTable): string {
  const head = ['PORT', 'INDEX', 'EXIT', 'EGRESS IP', 'PLACE', 'STATE', 'SERVED BY'];
  const body = t.rows.map((r) => [
    r.port === null ? '-' : `${r.port}${r.listening ? '' : '*'}`,
    r.index === null ? '' : String(r.index),
    r.state === 'drained' ? `${r.meaning} (drained)` : r.meaning,
    r.exit?.egressIp ?? '',
    r.exit?.place ?? '',
    r.state,
    r.servedBy && r.exit && r.servedBy.id !== r.exit.id ? `→ ${r.servedBy.id} (${r.servedBy.egressIp ?? '?'})` : r.state === 'drained' || r.state === 'down' ? '→ nothing' : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const notes = [`customer ${t.login}, ${t.scheme} port scheme${t.portBase === null ? ' (port routing off: every port is random)' : `, base ${t.portBase}`}`];
  if (t.rows.some((r) => r.port !== null && !r.listening)) notes.push('* outside the ingress listening range: use `index` or `port` in the username instead');
  return [notes[0]!, '', line(head), ...body.map(line), ...(notes.length > 1 ? ['', notes[1]!] : []), ''].join('\n');
}

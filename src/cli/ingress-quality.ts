/**
 * Exit health and quality as an ingress measures them (its admin `/v1/exits`,
 * src/ingress/route/exit-report.ts), for `hopgate exits`. The control plane
 * keeps no health: the figures live at each ingress process. Which ingress:
 * --ingress URL, HOPGATE_INGRESS_ADMIN, or the admin port in STATE_DIR/ingress.yaml
 * (written by `hopgate up`); its token: HOPGATE_INGRESS_ADMIN_TOKEN or that file's.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadIngressYaml } from '../ingress/config/from-yaml.js';
import type { ExitReportRow } from '../ingress/route/exit-report.js';

export type IngressQuality =
  | { readonly ok: true; readonly from: string; readonly byId: ReadonlyMap<string, ExitReportRow> }
  | { readonly ok: false; readonly from: string; readonly reason: string };

/** undefined: no ingress named or found (nothing to show). */
export async function ingressQuality(url: string | undefined, stateDir: string): Promise<IngressQuality | undefined> {
  let admin = url ?? process.env.HOPGATE_INGRESS_ADMIN;
  let token = process.env.HOPGATE_INGRESS_ADMIN_TOKEN;
  const file = join(stateDir, 'ingress.yaml');
  if (existsSync(file)) {
    try {
      const m = loadIngressYaml(file).metrics;
      if (m) {
        admin ??= `http://${m.host.includes(':') ? `[${m.host}]` : m.host}:${m.port}`;
        token ||= m.token;
      }
    } catch {
      // an unreadable file names no ingress
    }
  }
  if (!admin) return undefined;
  try {
    const res = await fetch(new URL('/v1/exits', admin), { signal: AbortSignal.timeout(5000), ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
    if (!res.ok) return { ok: false, from: admin, reason: `${res.status}${res.status === 401 || res.status === 403 ? ' (set HOPGATE_INGRESS_ADMIN_TOKEN)' : ''}` };
    const { exits } = (await res.json()) as { exits: ExitReportRow[] };
    return { ok: true, from: admin, byId: new Map(exits.map((e) => [e.id, e])) };
  } catch (err) {
    return { ok: false, from: admin, reason: (err as Error).message };
  }
}

/** `92 (100%, 41ms)`, `- (unmeasured)`, or `?` when the ingress does not know the exit. */
export function qualityText(row: ExitReportRow | undefined): string {
  if (!row) return '?';
  const q = row.quality;
  if (q.score === null) return '- (unmeasured)';
  const parts = [`${Math.round((q.successRate ?? 0) * 100)}%`, ...(q.latencyMs !== null ? [`${Math.round(q.latencyMs)}ms`] : [])];
  return `${q.score} (${parts.join(', ')})`;
}

/** `2 links, 5 streams, 1ms, 1.2 MB↓` for an exit reached over links by that ingress process; '-' otherwise. */
export function linkText(row: ExitReportRow | undefined): string {
  const l = row?.link;
  if (!l) return '-';
  const parts = [`${l.links} link${l.links === 1 ? '' : 's'}`, `${l.streams} stream${l.streams === 1 ? '' : 's'}`];
  if (l.rttMs !== null) parts.push(`${Math.round(l.rttMs)}ms`);
  if (l.breaks > 0) parts.push(`${l.breaks} broken`);
  if (l.windowStalls > 0) parts.push(`${l.windowStalls} stalls`);
  if (l.datagramsDropped > 0) parts.push(`${l.datagramsDropped} datagrams dropped`);
  return parts.join(', ');
}

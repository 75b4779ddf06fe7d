/** `hopgate exits health ID [--since 24h]`: one exit's health history (GET /v1/exits/{id}/health-history) as text. */
import type { z } from 'zod';
import type { HealthHistoryView } from '../control/exit-health-schema.js';
import { table, type AdminClient } from './admin-client.js';

type History = z.infer<typeof HealthHistoryView>;

/** Minute points are shown one by one up to this many, else summed per hour. */
const MINUTE_ROWS = 120;

export function fetchHealthHistory(client: AdminClient, id: string, since: string): Promise<History> {
  return client.request<History>('GET', `/v1/exits/${encodeURIComponent(id)}/health-history?range=${encodeURIComponent(since)}`);
}

function probeText(p: History['nodes'][number]['lastProbe']): string {
  if (!p) return '-';
  return `${p.ok ? `ok ${p.latencyMs ?? '?'} ms` : `failed ${p.error ?? ''}`} at ${p.at}`;
}

function seriesRows(series: History['series']): { unit: string; rows: string[][] } {
  const byHour = series.length > MINUTE_ROWS;
  const buckets = new Map<string, { ok: number; failed: number; latencySum: number }>();
  for (const p of series) {
    const k = byHour ? `${p.minute.slice(0, 13)}:00` : p.minute;
    const b = buckets.get(k) ?? { ok: 0, failed: 0, latencySum: 0 };
    b.ok += p.ok;
    b.failed += p.failed;
    b.latencySum += (p.latencyMs ?? 0) * p.ok;
    buckets.set(k, b);
  }
  return {
    unit: byHour ? 'hour' : 'minute',
    rows: [...buckets].map(([k, b]) => [k, String(b.ok), String(b.failed), b.ok > 0 ? `${Math.round((b.latencySum / b.ok) * 10) / 10} ms` : '-']),
  };
}

export function healthText(h: History): string {
  const out: string[] = [`exit ${h.exit}: ${h.health} now (as the ingresses last reported); history from ${h.from} UTC`, ''];
  out.push(h.nodes.length ? table(['NODE', 'STATE', 'REPORTED', 'LAST PROBE'], h.nodes.map((n) => [n.node, n.state, `${n.reportedAt}${n.fresh ? '' : ' (stale)'}`, probeText(n.lastProbe)])) : 'no ingress has reported yet\n');
  out.push(`transitions (${h.transitions.length}${h.truncated ? ', the newest only' : ''}):`);
  out.push(h.transitions.length ? table(['AT', 'NODE', 'CHANGE', 'REASON'], h.transitions.map((t) => [t.at, t.node, `${t.from} -> ${t.to}`, t.reason])) : '  none\n');
  const totals = h.series.reduce((s, p) => ({ ok: s.ok + p.ok, failed: s.failed + p.failed }), { ok: 0, failed: 0 });
  const s = seriesRows(h.series);
  out.push(`probes: ${totals.ok} ok, ${totals.failed} failed${totals.ok + totals.failed > 0 ? ` (${Math.round((totals.ok / (totals.ok + totals.failed)) * 1000) / 10}% ok)` : ''}, per ${s.unit} (UTC):`);
  out.push(s.rows.length ? table([s.unit.toUpperCase(), 'OK', 'FAILED', 'MEAN LATENCY'], s.rows) : '  none (no probes: a reverse exit, or probes off: limits.exitProbeIntervalMs)\n');
  return out.join('\n');
}

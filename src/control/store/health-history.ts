/**
 * Exit health history (docs/CONTROL.md, "Exit health history"). With every statistics pull an
 * ingress node reports the exits it takes as down and what its probes found (collector.ts
 * validates it); this repository keeps, per node:
 * - the latest report (node_exit_health: the down set, which failover and live health read,
 *   and the latest probe per exit);
 * - each up/down transition of an exit, found by comparing the report with the node's previous
 *   one in the same transaction, timed by this control plane's clock when it learned it;
 * - the probes per exit and UTC minute: the node's running totals for the minute, so a later
 *   report of the same minute replaces the row (a repeated or a lost pull changes nothing).
 * Only exits that exist here are recorded (an ingress is not trusted to name rows into being),
 * only minutes near now, and everything older than the retention is pruned.
 */
import type { ExitProbeReport, LastProbe } from '../../shared/control-protocol.js';
import type { ExitHealthTransitionsTable, ExitProbeMinutesTable } from '../tables.js';
import { json, parseJson } from './json-columns.js';
import { newId, type Db } from './tx.js';

/** Reported minutes further from now than this (either way) are refused: a node reports the current and the previous minute. */
const MINUTE_SLACK_MS = 5 * 60_000;
/** Most transitions one history answer lists (the newest are kept; `truncated` says so). */
export const MAX_TRANSITIONS = 2000;

export interface HealthTransition {
  readonly node: string;
  readonly from: 'up' | 'down';
  readonly to: 'up' | 'down';
  readonly at: string;
  readonly reason: string;
}

export interface ProbePoint {
  readonly minute: string;
  readonly ok: number;
  readonly failed: number;
  /** Mean round trip of the minute's successful probes, ms; null without one. */
  readonly latencyMs: number | null;
}

export interface NodeHealth {
  readonly node: string;
  readonly state: 'up' | 'down';
  readonly reportedAt: string;
  /** The report is recent enough to count for live health and failover. */
  readonly fresh: boolean;
  readonly lastProbe: LastProbe | null;
}

export interface HealthHistory {
  readonly transitions: HealthTransition[];
  readonly truncated: boolean;
  readonly series: ProbePoint[];
  readonly nodes: NodeHealth[];
}

function reasonOf(to: 'up' | 'down', last: LastProbe | undefined, drained: boolean): string {
  // A drained exit leaves the ingress's configuration, so it leaves the down set without being seen up.
  if (to === 'up' && drained) return 'drained: no longer watched by the ingress';
  if (to === 'down') return last && !last.ok ? `probe failed: ${last.error ?? 'ERROR'}` : 'reported down (no probe: a reverse exit not connected, or real connections failing)';
  return last?.ok ? `probe ok${last.latencyMs !== null ? ` (${last.latencyMs} ms)` : ''}` : 'reported up';
}

export class HealthHistoryRepo {
  /** node\0exit\0minute → what this process last wrote for it: unchanged minutes are not written again. */
  private readonly written = new Map<string, string>();

  constructor(
    private readonly db: Db,
    private readonly dialect: 'sqlite' | 'postgres',
  ) {}

  /**
   * One node's report: the latest state replaced, transitions against the previous report
   * written, probe minutes upserted. One transaction. Returns the transitions written.
   */
  async record(nodeId: string, down: readonly string[], probes: readonly ExitProbeReport[] | undefined, at: string): Promise<number> {
    const atMs = Date.parse(at);
    const pending: Array<[string, string]> = [];
    const n = await this.db.transaction().execute(async (trx) => {
      const exits = await trx.selectFrom('exits').select(['id', 'drain']).execute();
      const known = new Set(exits.map((r) => r.id));
      const drained = new Set(exits.filter((r) => Number(r.drain) === 1).map((r) => r.id));
      // PostgreSQL: the node's row locked, so two replicas pulling it during a hand-over cannot both see the same previous report.
      let q = trx.selectFrom('node_exit_health').select(['down', 'last_probes']).where('node_id', '=', nodeId);
      if (this.dialect === 'postgres') q = q.forUpdate();
      const prev = await q.executeTakeFirst();
      const was = new Set(prev ? parseJson<string[]>(prev.down, []) : []);
      const now = new Set(down);
      const lastById = new Map<string, LastProbe>();
      for (const p of probes ?? []) if (p.last && known.has(p.id)) lastById.set(p.id, p.last);
      // Without probes in this report (an older ingress) the previous latest probes stay.
      const lastProbes = probes === undefined ? (prev?.last_probes ?? null) : json(Object.fromEntries(lastById));
      const row = { node_id: nodeId, down: json([...now].sort()), reported_at: at, last_probes: lastProbes };
      await trx
        .insertInto('node_exit_health')
        .values(row)
        .onConflict((oc) => oc.column('node_id').doUpdateSet({ down: row.down, reported_at: at, last_probes: lastProbes }))
        .execute();
      const transitions: ExitHealthTransitionsTable[] = [];
      for (const id of new Set([...was, ...now])) {
        if (!known.has(id) || was.has(id) === now.has(id)) continue;
        const to = now.has(id) ? 'down' : 'up';
        transitions.push({ id: newId('eht'), exit_id: id, node_id: nodeId, from_state: to === 'down' ? 'up' : 'down', to_state: to, at, reason: reasonOf(to, lastById.get(id), drained.has(id)) });
      }
      // Batches: a node reporting many exits at once stays within the databases' parameter limits.
      for (let i = 0; i < transitions.length; i += 500) await trx.insertInto('exit_health_transitions').values(transitions.slice(i, i + 500)).execute();
      const rows: ExitProbeMinutesTable[] = [];
      for (const p of probes ?? []) {
        if (!known.has(p.id)) continue;
        for (const m of p.minutes) {
          const mMs = Date.parse(`${m.minute}Z`);
          if (!(Math.abs(mMs - atMs) <= MINUTE_SLACK_MS)) continue;
          const key = `${nodeId}\0${p.id}\0${m.minute}`;
          const value = `${m.ok}/${m.failed}/${m.latencyMsSum}`;
          if (this.written.get(key) === value) continue;
          rows.push({ exit_id: p.id, node_id: nodeId, minute: m.minute, probes_ok: m.ok, probes_failed: m.failed, latency_ms_sum: m.latencyMsSum });
          pending.push([key, value]);
        }
      }
      // Upserts in batches (one statement each, not one per row: a pull of 1,000 exits is one or two statements).
      for (let i = 0; i < rows.length; i += 500) {
        await trx
          .insertInto('exit_probe_minutes')
          .values(rows.slice(i, i + 500))
          .onConflict((oc) =>
            oc.columns(['exit_id', 'minute', 'node_id']).doUpdateSet((eb) => ({
              probes_ok: eb.ref('excluded.probes_ok'),
              probes_failed: eb.ref('excluded.probes_failed'),
              latency_ms_sum: eb.ref('excluded.latency_ms_sum'),
            })),
          )
          .execute();
      }
      return transitions.length;
    });
    // Remembered once committed (a rolled-back write is written again next time).
    for (const [k, v] of pending) this.written.set(k, v);
    if (this.written.size > 0) {
      const old = new Date(atMs - 2 * MINUTE_SLACK_MS).toISOString().slice(0, 16);
      for (const k of this.written.keys()) if (k.slice(k.lastIndexOf('\0') + 1) < old) this.written.delete(k);
    }
    return n;
  }

  /** One exit's history between two minute keys (`to` exclusive), and each node's latest report of it. */
  async history(exitId: string, from: string, to: string, freshSince: string): Promise<HealthHistory> {
    const rows = await this.db
      .selectFrom('exit_health_transitions')
      .selectAll()
      .where('exit_id', '=', exitId)
      .where('at', '>=', from)
      .where('at', '<', to)
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(MAX_TRANSITIONS + 1)
      .execute();
    const truncated = rows.length > MAX_TRANSITIONS;
    const transitions = rows
      .slice(0, MAX_TRANSITIONS)
      .reverse()
      .map((r) => ({ node: r.node_id, from: r.from_state, to: r.to_state, at: r.at, reason: r.reason }));
    const minutes = await this.db
      .selectFrom('exit_probe_minutes')
      .select((eb) => ['minute', eb.fn.sum<number>('probes_ok').as('ok'), eb.fn.sum<number>('probes_failed').as('failed'), eb.fn.sum<number>('latency_ms_sum').as('latency')])
      .where('exit_id', '=', exitId)
      .where('minute', '>=', from)
      .where('minute', '<', to)
      .groupBy('minute')
      .orderBy('minute')
      .execute();
    const series = minutes.map((m) => {
      const ok = Number(m.ok);
      return { minute: m.minute, ok, failed: Number(m.failed), latencyMs: ok > 0 ? Math.round((Number(m.latency) / ok) * 10) / 10 : null };
    });
    const reports = await this.db.selectFrom('node_exit_health').selectAll().orderBy('node_id').execute();
    const nodes = reports.map((r) => ({
      node: r.node_id,
      state: parseJson<string[]>(r.down, []).includes(exitId) ? ('down' as const) : ('up' as const),
      reportedAt: r.reported_at,
      fresh: r.reported_at >= freshSince,
      lastProbe: parseJson<Record<string, LastProbe>>(r.last_probes, {})[exitId] ?? null,
    }));
    return { transitions, truncated, series, nodes };
  }

  /** Delete history older than `beforeIso`. Returns rows deleted. */
  async prune(beforeIso: string): Promise<number> {
    const t = await this.db.deleteFrom('exit_health_transitions').where('at', '<', beforeIso).executeTakeFirst();
    const m = await this.db.deleteFrom('exit_probe_minutes').where('minute', '<', beforeIso.slice(0, 16)).executeTakeFirst();
    return Number(t.numDeletedRows) + Number(m.numDeletedRows);
  }
}

/**
 * What the active probes found, per exit, for the control plane's health history
 * (docs/CONTROL.md, "Exit health history"): the counts of the current and the previous
 * UTC minute and the latest probe. Only two minutes are kept: the control plane pulls
 * every few seconds and a later report of a minute replaces the earlier one, so a
 * closed minute's final counts reach it with the next pull. O(1) per probe, bounded
 * per exit; exits that leave the configuration are forgotten (retain).
 */
import { minuteOf, type ExitProbeReport, type LastProbe, type ProbeMinute } from '../../shared/control-protocol.js';

interface Minute {
  minute: string;
  ok: number;
  failed: number;
  latencyMsSum: number;
}

interface Entry {
  current: Minute | undefined;
  previous: Minute | undefined;
  last: LastProbe | null;
}

export class ProbeLog {
  private readonly byId = new Map<string, Entry>();

  constructor(private readonly now: () => number = Date.now) {}

  record(id: string, ok: boolean, latencyMs: number | undefined, error: string | undefined): void {
    const t = this.now();
    const minute = minuteOf(t);
    let e = this.byId.get(id);
    if (!e) this.byId.set(id, (e = { current: undefined, previous: undefined, last: null }));
    if (e.current?.minute !== minute) {
      // The minute just before carries over as "previous"; anything older is already reported or lost.
      e.previous = e.current !== undefined && e.current.minute === minuteOf(t - 60_000) ? e.current : undefined;
      e.current = { minute, ok: 0, failed: 0, latencyMsSum: 0 };
    }
    const m = e.current;
    if (ok) {
      m.ok++;
      m.latencyMsSum += Math.max(0, latencyMs ?? 0);
    } else m.failed++;
    e.last = { at: new Date(t).toISOString(), ok, latencyMs: ok && latencyMs !== undefined ? Math.round(latencyMs * 10) / 10 : null, error: ok ? null : (error ?? 'ERROR') };
  }

  /** Every exit probed, with its minutes not older than the previous one. */
  report(): ExitProbeReport[] {
    const t = this.now();
    const fresh = new Set([minuteOf(t), minuteOf(t - 60_000)]);
    const out: ExitProbeReport[] = [];
    for (const [id, e] of this.byId) {
      const minutes: ProbeMinute[] = [e.previous, e.current].filter((m): m is Minute => m !== undefined && fresh.has(m.minute)).map((m) => ({ ...m, latencyMsSum: Math.round(m.latencyMsSum * 10) / 10 }));
      out.push({ id, minutes, last: e.last });
    }
    return out;
  }

  /** Forget exits that are no longer configured (after a reload). */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.byId.keys()) if (!ids.has(id)) this.byId.delete(id);
  }
}

/**
 * A node's view over its workers' reports (each worker probes on its own): per exit and
 * minute the counts are summed, and the latest probe of any worker is the node's last.
 */
export function mergeProbeReports(reports: readonly (readonly ExitProbeReport[])[]): ExitProbeReport[] {
  const byId = new Map<string, { minutes: Map<string, { ok: number; failed: number; latencyMsSum: number }>; last: LastProbe | null }>();
  for (const r of reports) {
    for (const x of r) {
      let e = byId.get(x.id);
      if (!e) byId.set(x.id, (e = { minutes: new Map(), last: null }));
      for (const m of x.minutes) {
        const s = e.minutes.get(m.minute) ?? { ok: 0, failed: 0, latencyMsSum: 0 };
        e.minutes.set(m.minute, { ok: s.ok + m.ok, failed: s.failed + m.failed, latencyMsSum: s.latencyMsSum + m.latencyMsSum });
      }
      if (x.last && (!e.last || x.last.at > e.last.at)) e.last = x.last;
    }
  }
  return [...byId].map(([id, e]) => ({ id, minutes: [...e.minutes].sort(([a], [b]) => a.localeCompare(b)).map(([minute, s]) => ({ minute, ...s })), last: e.last }));
}

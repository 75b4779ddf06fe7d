/**
 * The ingress admin's `/v1/exits`: every exit of the configuration in force
 * with what this ingress process knows of it now — up or not, drained, and its
 * quality score with the figures behind it (exit-quality.ts). The control plane
 * holds no health of its own; this is where the measurements are.
 */
import type { Snapshot } from '../config/snapshot.js';
import type { ExitHealth } from './exit-health.js';
import { describePlace } from '../../shared/exits/exit-index.js';
import type { QualityView } from './exit-quality.js';
import type { LinkPools } from '../upstream/link-pool.js';
import type { LinkTrafficFigures } from '../../link/traffic.js';

/** This process's links to a hopgate exit (upstream/link-pool.ts) or from a reverse exit (reverse/registry.ts), as `hopgate exits` shows them. */
export interface ExitLinkFigures {
  readonly links: number;
  readonly streams: number;
  readonly rttMs: number | null;
  readonly connects: number;
  readonly breaks: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly windowStalls: number;
  /** UDP datagrams dropped on the way to the exit at a full queue (the link behind). */
  readonly datagramsDropped: number;
}

export interface ExitReportRow {
  readonly id: string;
  readonly kind: string;
  readonly egressIp: string | null;
  readonly place: string;
  readonly drained: boolean;
  readonly up: boolean;
  readonly quality: QualityView;
  /** null: no link to or from it in this process (not a link exit, or not used yet). */
  readonly link: ExitLinkFigures | null;
}

export function exitReport(snap: Snapshot, health: ExitHealth, pools?: LinkPools, reverseLinks?: (id: string) => ExitLinkFigures | null): { readonly exits: readonly ExitReportRow[] } {
  const byExit = new Map((pools?.all() ?? []).map((p) => [p.exit.id, p]));
  return {
    exits: snap.exits.all.map((e) => ({
      id: e.id,
      kind: e.config.kind,
      egressIp: e.config.egressIp ?? null,
      place: describePlace(e.place),
      drained: e.drained,
      up: !e.drained && health.isUp(e.id),
      quality: health.quality.view(e.id),
      link: e.config.kind === 'reverse' ? (reverseLinks?.(e.id) ?? null) : linkFigures(byExit.get(e.id)),
    })),
  };
}

function linkFigures(p: ReturnType<LinkPools['all']>[number] | undefined): ExitLinkFigures | null {
  if (!p) return null;
  return exitLinkFigures({ links: p.linkCount, streams: p.streamCount, rttMs: p.rttMs ?? null, connects: p.connects, breaks: p.breaks }, p.totals);
}

/** One row's link figures, forward (above) or reverse (reverse/exit-state.ts) alike: the traffic figures `hopgate exits` shows, no more. */
export function exitLinkFigures(counts: Pick<ExitLinkFigures, 'links' | 'streams' | 'rttMs' | 'connects' | 'breaks'>, t: LinkTrafficFigures): ExitLinkFigures {
  return { ...counts, bytesSent: t.bytesSent, bytesReceived: t.bytesReceived, windowStalls: t.windowStalls, datagramsDropped: t.datagramsDropped };
}

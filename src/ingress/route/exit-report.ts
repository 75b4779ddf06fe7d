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

export interface ExitReportRow {
  readonly id: string;
  readonly kind: string;
  readonly egressIp: string | null;
  readonly place: string;
  readonly drained: boolean;
  readonly up: boolean;
  readonly quality: QualityView;
}

export function exitReport(snap: Snapshot, health: ExitHealth): { readonly exits: readonly ExitReportRow[] } {
  return {
    exits: snap.exits.all.map((e) => ({
      id: e.id,
      kind: e.config.kind,
      egressIp: e.config.egressIp ?? null,
      place: describePlace(e.place),
      drained: e.drained,
      up: !e.drained && health.isUp(e.id),
      quality: health.quality.view(e.id),
    })),
  };
}

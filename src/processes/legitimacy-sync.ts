/**
 * Source legitimacy follows the configuration in every process that runs an
 * ingress (the single process, each worker): the runtime's gate is removed
 * when legitimacy is off (or the node id is not known yet), reconfigured when
 * it stays on, made when it comes on. The callers add what differs: the
 * primary its link to the control plane, a worker its evidence reports.
 */
import type { IngressRuntime } from '../ingress/runtime.js';
import { LegitimacyGate } from '../ingress/guard/legitimacy-gate.js';
import type { IngressConfig } from '../shared/schema/ingress-config.js';

/** 'off': no gate (now); 'on': already on (reconfigured) or no runtime here; a gate: made just now. */
export type LegitimacySync = 'off' | 'on' | LegitimacyGate;

export function syncLegitimacy(rt: IngressRuntime | undefined, cfg: IngressConfig, nodeId: string | undefined): LegitimacySync {
  if (!cfg.legitimacy.enabled || nodeId === undefined) {
    if (rt) rt.legitimacy = undefined;
    return 'off';
  }
  if (!rt) return 'on';
  if (rt.legitimacy) {
    rt.legitimacy.configure(cfg.legitimacy);
    return 'on';
  }
  return (rt.legitimacy = new LegitimacyGate(nodeId, cfg.legitimacy));
}

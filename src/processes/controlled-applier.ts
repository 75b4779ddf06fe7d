/**
 * How a controlled ingress puts a configuration in force: in this process
 * (controlled-single.ts) or in worker processes (controlled-cluster.ts).
 */
import type { Ingress } from '../ingress/ingress.js';
import type { IngressConfig } from '../shared/schema/ingress-config.js';
import type { DeltaMessage, SnapshotMessage } from '../shared/control-protocol.js';
import type { LegitimacyLink } from '../ingress/control-link/legitimacy-link.js';
import type { PrimaryMessage } from './ipc-messages.js';

export interface Applier {
  readonly ports: [number, number];
  readonly workers: number;
  readonly adminPort: number | undefined;
  /** The ingress itself (single-process mode only). */
  readonly ingress: Ingress | undefined;
  readonly tunnelPort: number | undefined;
  /** Resolves once `revision` is in force (cluster: every live worker confirmed it, or 5 s passed). */
  apply(m: SnapshotMessage | DeltaMessage, cfg: IngressConfig, revision: number): Promise<void>;
  /** Cluster: send a message to every worker. */
  relay?(m: PrimaryMessage): void;
  stop(): Promise<void>;
}

/** What the appliers ask of the node around them. */
export interface NodeContext {
  readonly pullToken: () => string | undefined;
  readonly nodeId: () => string | undefined;
  /** The node's legitimacy link (undefined when off or before the node id is known). */
  readonly legitimacy: () => LegitimacyLink | undefined;
}

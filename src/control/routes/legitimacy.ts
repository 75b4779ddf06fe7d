/**
 * Source legitimacy (docs/LEGITIMACY.md): the ingresses' reports and ACKs, the operator's view and events.
 */
import * as S from '../api-schemas.js';
import { ApiError } from '../errors.js';
import type { LegitimacyService } from '../legitimacy.js';
import { nodeIdOf, route, type ControlServerOptions, type Route } from './route.js';

export function legitimacyRoutes(o: ControlServerOptions): Route[] {
  const svc = (): LegitimacyService => {
    if (!o.legitimacy) throw new ApiError(503, 'unavailable', 'source legitimacy is not running on this control plane');
    return o.legitimacy;
  };
  return [
    route(
      { method: 'POST', path: '/v1/stream/legitimacy', auth: 'ingress', operationId: 'postLegitimacy', summary: 'Evidence reports (idempotent on ingressId + epoch + seq), rule-set ACK/NACKs and state of the ingress; the answer lists the reports to stop resending. 409 when this process does not hold the node\'s config stream (another replica does: send again)', tag: 'config stream', body: S.LegitimacyPost, status: 200, response: { description: 'reports acknowledged', schema: S.LegitimacyPostAnswer }, errors: [409, 503] },
      async ({ principal, body }) => {
        const nodeId = nodeIdOf(principal);
        const s = svc();
        if (!s.holdsStream(nodeId)) throw new ApiError(409, 'not_subscribed', 'this control-plane process does not hold the config stream of this node; send again (to the replica holding it)');
        return s.post(nodeId, body as Parameters<LegitimacyService['post']>[1]);
      },
    ),
    route(
      { method: 'GET', path: '/v1/legitimacy', auth: 'operator', operationId: 'getLegitimacy', summary: 'Source legitimacy: mode (warmup, active, suspended), why, and per ingress the rule revision, ACKs, attack mode and limited decisions', tag: 'legitimacy', status: 200, response: { description: 'the state', schema: S.LegitimacyView }, errors: [503] },
      async () => svc().view(),
    ),
    route(
      { method: 'POST', path: '/v1/legitimacy/events', auth: 'operator', operationId: 'postLegitimacyEvent', summary: 'Announce a network event (route withdrawn, ingress down…): the rules of every ingress are suspended at once and come back once learning re-converges', tag: 'legitimacy', body: S.LegitimacyEvent, status: 200, response: { description: 'the state after the event', schema: S.LegitimacyView }, errors: [503] },
      async ({ body }) => {
        const s = svc();
        s.operatorEvent(body);
        return s.view();
      },
    ),
  ];
}

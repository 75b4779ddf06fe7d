/**
 * Ingress nodes (operator): registration and their config-stream token.
 */
import * as S from '../api-schemas.js';
import { notFound } from '../errors.js';
import { actorOf, route, type ControlServerOptions, type Route } from './route.js';

export function ingressNodeRoutes(o: ControlServerOptions): Route[] {
  const store = o.store;
  return [
    route(
      { method: 'GET', path: '/v1/ingress-nodes', auth: 'operator', operationId: 'listIngressNodes', summary: 'List ingress nodes', tag: 'ingress nodes', status: 200, response: { description: 'nodes by id', schema: S.NodeList } },
      async () => ({ nodes: await store.listNodes() }),
    ),
    route(
      { method: 'POST', path: '/v1/ingress-nodes', auth: 'operator', operationId: 'createIngressNode', summary: 'Register an ingress node', tag: 'ingress nodes', body: S.NodeCreate, status: 201, response: { description: 'created', schema: S.NodeView }, errors: [409] },
      async ({ body, principal }) => store.createNode(body, actorOf(principal)),
    ),
    route(
      { method: 'GET', path: '/v1/ingress-nodes/:id', auth: 'operator', operationId: 'getIngressNode', summary: 'One ingress node', tag: 'ingress nodes', params: S.IdParam, status: 200, response: { description: 'the node', schema: S.NodeView }, errors: [404] },
      async ({ params }) => {
        const n = await store.getNode(params.id);
        if (!n) throw notFound('ingress node', params.id);
        return n;
      },
    ),
    route(
      { method: 'PATCH', path: '/v1/ingress-nodes/:id', auth: 'operator', operationId: 'updateIngressNode', summary: 'Rename an ingress node', tag: 'ingress nodes', params: S.IdParam, body: S.NodePatch, status: 200, response: { description: 'the node', schema: S.NodeView }, errors: [404] },
      async ({ params, body, principal }) => store.updateNode(params.id, body, actorOf(principal)),
    ),
    route(
      { method: 'DELETE', path: '/v1/ingress-nodes/:id', auth: 'operator', operationId: 'deleteIngressNode', summary: 'Forget an ingress node', tag: 'ingress nodes', params: S.IdParam, status: 204, response: { description: 'deleted' }, errors: [404] },
      async ({ params, principal }) => store.deleteNode(params.id, actorOf(principal)),
    ),

    route(
      { method: 'POST', path: '/v1/ingress-nodes/:id/token', auth: 'operator', operationId: 'issueIngressToken', summary: "Issue the node's ingress token for the config stream (shown once; replaces the previous one)", tag: 'ingress nodes', params: S.IdParam, status: 200, response: { description: 'the token', schema: S.NodeToken }, errors: [404] },
      async ({ params }) => {
        const token = await store.issueNodeToken(params.id);
        if (!token) throw notFound('ingress node', params.id);
        return { token };
      },
    ),
  ];
}

/**
 * Exits (operator): forward and reverse exits, a reverse exit's token.
 */
import * as S from '../api-schemas.js';
import { notFound } from '../errors.js';
import { ControlStore } from '../store/index.js';
import { actorOf, newExitToken, route, type ControlServerOptions, type Route } from './route.js';

export function exitRoutes(o: ControlServerOptions): Route[] {
  const store = o.store;
  const exitView = ControlStore.exitView;
  return [
    route(
      { method: 'GET', path: '/v1/exits', auth: 'operator', operationId: 'listExits', summary: 'List exits', tag: 'exits', status: 200, response: { description: 'exits by id', schema: S.ExitList } },
      async () => ({ exits: (await store.listExits()).map(exitView) }),
    ),
    route(
      { method: 'POST', path: '/v1/exits', auth: 'operator', operationId: 'createExit', summary: 'Add an exit (a reverse exit gets its token in the answer, once)', tag: 'exits', body: S.ExitCreate, status: 201, response: { description: 'created', schema: S.ExitCreated }, errors: [409] },
      async ({ body, principal }) => {
        if (body.kind !== 'reverse') return exitView(await store.createExit(body, actorOf(principal)));
        const t = await newExitToken(o);
        return { ...exitView(await store.createExit(body, actorOf(principal), t.hash)), token: t.token };
      },
    ),
    route(
      { method: 'POST', path: '/v1/exits/:id/token', auth: 'operator', operationId: 'issueExitToken', summary: "Issue a reverse exit's token (shown once; the previous one stops working at every ingress)", tag: 'exits', params: S.IdParam, status: 200, response: { description: 'the token', schema: S.ExitToken }, errors: [404] },
      async ({ params, principal }) => {
        const t = await newExitToken(o);
        await store.setExitTokenHash(params.id, t.hash, actorOf(principal));
        return { token: t.token };
      },
    ),
    route(
      { method: 'GET', path: '/v1/exits/:id', auth: 'operator', operationId: 'getExit', summary: 'One exit', tag: 'exits', params: S.IdParam, status: 200, response: { description: 'the exit', schema: S.ExitView }, errors: [404] },
      async ({ params }) => {
        const e = await store.getExit(params.id);
        if (!e) throw notFound('exit', params.id);
        return exitView(e);
      },
    ),
    route(
      { method: 'PATCH', path: '/v1/exits/:id', auth: 'operator', operationId: 'updateExit', summary: 'Change an exit: address, credentials, place, tags, drain', tag: 'exits', params: S.IdParam, body: S.ExitPatch, status: 200, response: { description: 'the exit', schema: S.ExitView }, errors: [404] },
      async ({ params, body, principal }) => exitView(await store.updateExit(params.id, body, actorOf(principal))),
    ),
    route(
      { method: 'DELETE', path: '/v1/exits/:id', auth: 'operator', operationId: 'deleteExit', summary: 'Delete an exit (409 while customers list it, unless force=true; 409 exit_last, even forced, for a customer\'s only exit)', tag: 'exits', params: S.IdParam, query: S.ExitDeleteQuery, status: 204, response: { description: 'deleted' }, errors: [404, 409] },
      async ({ params, query, principal }) => store.deleteExit(params.id, query.force === 'true', actorOf(principal)),
    ),
  ];
}

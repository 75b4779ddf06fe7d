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
      { method: 'POST', path: '/v1/exits/:id/link-key', auth: 'operator', operationId: 'stageExitLinkKey', summary: "A link key rotation's first step: pin the exit's next certificate beside the current one (docs/EXITS.md, Link keys)", tag: 'exits', params: S.IdParam, body: S.LinkKeyNext, status: 200, response: { description: 'the exit', schema: S.ExitView }, errors: [404, 409] },
      async ({ params, body, principal }) => exitView(await store.rotateExitLinkKey(params.id, { next: body.fingerprint }, actorOf(principal))),
    ),
    route(
      { method: 'POST', path: '/v1/exits/:id/link-key/retire', auth: 'operator', operationId: 'retireExitLinkKey', summary: 'The last step: the next link key becomes the only one; the old one is refused from then on', tag: 'exits', params: S.IdParam, status: 200, response: { description: 'the exit', schema: S.ExitView }, errors: [404, 409] },
      async ({ params, principal }) => exitView(await store.rotateExitLinkKey(params.id, 'retire', actorOf(principal))),
    ),
    route(
      { method: 'POST', path: '/v1/exits/:id/link-token', auth: 'operator', operationId: 'issueExitLinkToken', summary: "Issue a hopgate exit's link token: it reads the ingresses' link pins with it (shown once; replaces the previous one)", tag: 'exits', params: S.IdParam, status: 200, response: { description: 'the token', schema: S.ExitLinkToken }, errors: [404] },
      async ({ params }) => ({ token: await store.issueExitLinkToken(params.id) }),
    ),
    route(
      { method: 'GET', path: '/v1/link-pins', auth: 'exit', operationId: 'linkPins', summary: "The ingresses' link fingerprints (current and next of every node) a hopgate exit pins", tag: 'exits', status: 200, response: { description: 'fingerprints', schema: S.LinkPins } },
      async () => ({ fingerprints: await store.ingressLinkPins() }),
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
      { method: 'PATCH', path: '/v1/exits/:id', auth: 'operator', operationId: 'updateExit', summary: 'Change an exit: address, credentials, place, tags, drain, link', tag: 'exits', params: S.IdParam, body: S.ExitPatch, status: 200, response: { description: 'the exit', schema: S.ExitView }, errors: [404] },
      async ({ params, body, principal }) => exitView(await store.updateExit(params.id, body, actorOf(principal))),
    ),
    route(
      { method: 'DELETE', path: '/v1/exits/:id', auth: 'operator', operationId: 'deleteExit', summary: 'Delete an exit (409 while customers list it, unless force=true; 409 exit_last, even forced, for a customer\'s only exit)', tag: 'exits', params: S.IdParam, query: S.ExitDeleteQuery, status: 204, response: { description: 'deleted' }, errors: [404, 409] },
      async ({ params, query, principal }) => store.deleteExit(params.id, query.force === 'true', actorOf(principal)),
    ),
  ];
}

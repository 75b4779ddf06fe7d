/**
 * Health, the configuration revision and the change log.
 */
import * as S from '../api-schemas.js';
import { route, type ControlServerOptions, type Route } from './route.js';

export function systemRoutes(o: ControlServerOptions): Route[] {
  const store = o.store;
  return [
    route(
      { method: 'GET', path: '/healthz', auth: 'public', operationId: 'health', summary: 'Health: the current revision when the database answers (else 503 database_unavailable)', tag: 'system', status: 200, response: { description: 'up', schema: S.HealthView } },
      // Bounded: a load balancer's probe gets 503 database_unavailable within the wait bound, never a hang.
      async () => ({ ok: true, revision: await store.revisionWithin() }),
    ),
    route(
      { method: 'GET', path: '/v1/revision', auth: 'operator', operationId: 'getRevision', summary: 'The configuration revision (bumped by every change)', tag: 'system', status: 200, response: { description: 'revision', schema: S.RevisionView } },
      async () => ({ revision: await store.revision() }),
    ),
    route(
      { method: 'GET', path: '/v1/changes', auth: 'operator', operationId: 'listChanges', summary: 'Change log entries after a revision', tag: 'system', query: S.ChangesQuery, status: 200, response: { description: 'entries in revision order', schema: S.ChangesView } },
      async ({ query }) => {
        const [revision, changes] = [await store.revision(), await store.changes(query.since, query.limit)];
        return { revision, changes };
      },
    ),
  ];
}

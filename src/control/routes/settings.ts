/**
 * Settings (operator) and the standalone ingress configuration rendered from the store.
 */
import { z } from 'zod';
import { IngressConfigSchema } from '../../shared/schema/ingress-config.js';
import * as S from '../api-schemas.js';
import { renderIngressConfig, renderYaml } from '../render.js';
import type { ControlStore } from '../store/index.js';
import { actorOf, route, type ControlServerOptions, type Route } from './route.js';

export function settingsRoutes(o: ControlServerOptions): Route[] {
  const store = o.store;
  return [
    route(
      { method: 'GET', path: '/v1/settings', auth: 'operator', operationId: 'getSettings', summary: 'Ingress settings (listen, limits, targetPolicy…) as stored', tag: 'settings', status: 200, response: { description: 'settings', schema: S.SettingsView } },
      async () => settingsView(store),
    ),
    route(
      { method: 'PATCH', path: '/v1/settings', auth: 'operator', operationId: 'patchSettings', summary: 'Set settings keys (each as in the ingress YAML); null removes a key', tag: 'settings', body: S.SettingsPatch, status: 200, response: { description: 'settings', schema: S.SettingsView } },
      async ({ req, principal }) => {
        // Validated by SettingsPatch; stored as written so ingress defaults stay defaults.
        await store.patchSettings(req.body as Partial<Record<S.SettingKey, unknown>>, actorOf(principal));
        return settingsView(store);
      },
    ),
    route(
      {
        method: 'GET',
        path: '/v1/ingress-config',
        auth: 'operator',
        operationId: 'renderIngressConfig',
        summary: 'The standalone ingress configuration (YAML; JSON with Accept: application/json or ?format=json)',
        tag: 'settings',
        query: z.object({ format: z.enum(['yaml', 'json']).optional() }).strict(),
        status: 200,
        response: { description: 'the configuration; X-Hopgate-Revision names its revision', schema: IngressConfigSchema, io: 'input', contentTypes: ['application/yaml', 'application/json'] },
        errors: [500],
      },
      async ({ req, reply, query }) => {
        const rendered = renderIngressConfig(await store.snapshot());
        const wantJson = query.format === 'json' || (query.format === undefined && /application\/json/i.test(req.headers.accept ?? ''));
        void reply.header('x-hopgate-revision', String(rendered.revision)).header('etag', `"rev-${rendered.revision}"`);
        if (rendered.warnings.length > 0) void reply.header('x-hopgate-warnings', rendered.warnings.join('; '));
        if (wantJson) return reply.code(200).type('application/json').send(rendered.config);
        return reply.code(200).type('application/yaml; charset=utf-8').send(renderYaml(rendered));
      },
    ),
  ];
}

/** Settings and the revision they belong to, read together (not the whole store). */
async function settingsView(store: ControlStore): Promise<{ revision: number; settings: Record<string, unknown> }> {
  let tx = store.db.transaction();
  if (store.target.dialect === 'postgres') tx = tx.setIsolationLevel('repeatable read');
  return tx.execute(async (trx) => ({ revision: await store.revision(trx), settings: await store.getSettings(trx) }));
}
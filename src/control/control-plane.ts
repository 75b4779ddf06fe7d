/** The control plane as one object: store (migrated) + operator token + API server. */
import { join, resolve } from 'node:path';
import type { Logger } from '../shared/log.js';
import { describeTarget, parseDbTarget, type DbTarget } from './db.js';
import { ControlServer } from './server.js';
import { ControlStore } from './store.js';
import { loadOrCreateAdminToken, type AdminToken } from './token.js';

import { DEFAULT_CONTROL_HOST, DEFAULT_CONTROL_PORT, DEFAULT_DB_FILE } from './defaults.js';

export { DEFAULT_CONTROL_HOST, DEFAULT_CONTROL_PORT, DEFAULT_DB_FILE };

export interface ControlPlaneOptions {
  /** `sqlite:PATH` or `postgres://…`; default: SQLite file in the state dir. */
  readonly db?: string;
  readonly stateDir: string;
  readonly host?: string;
  readonly port?: number;
  /** Overrides the token file (HOPGATE_ADMIN_TOKEN). */
  readonly adminToken?: string;
  readonly logger?: Logger;
  readonly passwordCost?: { ln: number; r: number; p: number };
}

export interface ControlPlane {
  readonly url: string;
  readonly store: ControlStore;
  readonly server: ControlServer;
  readonly token: AdminToken;
  readonly target: DbTarget;
  readonly dbDescription: string;
  close(): Promise<void>;
}

export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  const stateDir = resolve(o.stateDir);
  const target = parseDbTarget(o.db ?? `sqlite:${join(stateDir, DEFAULT_DB_FILE)}`);
  const token = loadOrCreateAdminToken(stateDir, o.adminToken);
  const store = await ControlStore.open(target);
  let server: ControlServer;
  try {
    server = await ControlServer.start({
      store,
      adminToken: token.token,
      host: o.host ?? DEFAULT_CONTROL_HOST,
      port: o.port ?? DEFAULT_CONTROL_PORT,
      ...(o.logger ? { logger: o.logger } : {}),
      ...(o.passwordCost ? { passwordCost: o.passwordCost } : {}),
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  return {
    url: server.url,
    store,
    server,
    token,
    target,
    dbDescription: describeTarget(target),
    async close() {
      await server.close();
      await store.close();
    },
  };
}

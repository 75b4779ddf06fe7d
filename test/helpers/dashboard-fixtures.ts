/**
 * The dashboard tests' control plane: on SQLite, in a temp state dir, with API calls under any
 * Authorization header (the operator's bearer token, a customer's Basic login, or a wrong one).
 */
import { startControlPlane, type ControlPlane } from '../../src/control/control-plane.js';
import { authApi, sqliteDb, tempDir, TEST_COST, type AuthApi } from './control-fixtures.js';

export interface DashboardControl {
  cp: ControlPlane;
  /** The operator's token, as typed into the login form. */
  token: string;
  /** The operator's Authorization header. */
  op: string;
  api: AuthApi;
  close(): Promise<void>;
}

export async function startDashboardControl(): Promise<DashboardControl> {
  const tdb = await sqliteDb();
  const state = tempDir();
  let cp: ControlPlane;
  try {
    cp = await startControlPlane({ db: tdb.spec, stateDir: state.path, port: 0, passwordCost: TEST_COST });
  } catch (err) {
    await tdb.cleanup();
    state.remove();
    throw err;
  }
  const token = cp.token.token;
  return {
    cp,
    token,
    op: `Bearer ${token}`,
    api: authApi(cp.url),
    close: async () => {
      await cp.close();
      await tdb.cleanup();
      state.remove();
    },
  };
}

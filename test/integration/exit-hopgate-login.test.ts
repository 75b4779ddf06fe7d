/**
 * A hopgate exit added through the control plane with only its password (the
 * CONTROL.md example) gets the login every `hopgate exit` accepts, `ingress`:
 * the rendered configuration carries it, and a real ingress reaches a target
 * through a real exit with it. Without the default the exit stayed down for good.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ControlStore } from '../../src/control/store/index.js';
import { parseDbTarget } from '../../src/control/db.js';
import { renderIngressConfig } from '../../src/control/render.js';
import { ExitCreate } from '../../src/control/api-schemas.js';
import { dialects, type TestDb } from '../helpers/control-fixtures.js';
import { EXIT_SECRET, startTestExit, type TestExit } from '../helpers/exits.js';
import { startTestIngress, USER } from '../helpers/ingress.js';
import { startEchoServer } from '../helpers/net.js';
import { curl } from '../helpers/curl.js';

const cases = await dialects();

for (const dc of cases) {
  describe(`a hopgate exit added with only a password, on ${dc.name}`, { skip: dc.skip }, () => {
    let tdb: TestDb;
    let store: ControlStore;
    let exit: TestExit;
    let echo: Awaited<ReturnType<typeof startEchoServer>>;

    before(async () => {
      tdb = await dc.make();
      store = await ControlStore.open(parseDbTarget(tdb.spec));
      exit = await startTestExit('us-1', '127.0.0.2');
      echo = await startEchoServer();
    });
    after(async () => {
      await exit?.node.shutdown(100);
      await echo?.close();
      await store?.close();
      await tdb?.cleanup();
    });

    it("gets the username 'ingress' and carries traffic", async (t) => {
      const created = await store.createExit(ExitCreate.parse({ id: 'us-1', kind: 'hopgate', host: exit.ip, port: exit.port, password: EXIT_SECRET, egressIp: exit.ip, country: 'us' }), 'operator');
      assert.equal(created.username, 'ingress');
      // Another kind has no login of its own to default to.
      const socks = await store.createExit(ExitCreate.parse({ id: 's-1', kind: 'socks5', host: '127.0.0.3', port: 1080, password: 'p' }), 'operator');
      assert.equal(socks.username, null);

      const rendered = renderIngressConfig(await store.snapshot()).config.exits?.find((e) => e.id === 'us-1');
      assert.equal((rendered as { username?: string } | undefined)?.username, 'ingress');
      const ing = await startTestIngress({ exits: [rendered!] });
      t.after(() => ing.stop());
      const before = echo.sources.length;
      const r = await curl(['-sS', '-p', '-m', '5', '-x', `http://${USER.login}:${encodeURIComponent(USER.password)}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${echo.port}/`]);
      assert.ok(echo.sources.length > before, `nothing reached the target: ${r.stderr}`);
      assert.equal(echo.sources.at(-1), exit.ip, 'the target saw the exit');
    });
  });
}

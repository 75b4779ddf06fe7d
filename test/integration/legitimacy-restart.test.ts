/**
 * The legitimacy analysis survives a control-plane restart (docs/LEGITIMACY.md,
 * "Restarts"): two ingresses teach it their sources until rules are in force;
 * the control plane stops and starts again on the same state dir, with a
 * warm-up far longer than the test, so only the saved state can put the
 * rules back. At its first round every ingress gets a fresh, active rule set
 * with the same classes; nothing is relearned. A corrupt state file is moved
 * aside and the analysis starts from scratch.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sqliteDb, tempDir, type TestDb } from '../helpers/control-fixtures.js';
import { TEST_SETTINGS, makeNode, startLinkedIngress, startTestControl, type Api } from '../helpers/control-link-fixtures.js';
import { startEchoServer } from '../helpers/net.js';
import { socks5ConnectRaw } from '../helpers/socks5-raw.js';
import type { ControlledIngress } from '../../src/processes/controlled-ingress.js';
import type { ControlPlane, ControlPlaneOptions } from '../../src/control/control-plane.js';
import { eventually } from '../helpers/eventually.js';

const IDS = ['edge-a', 'edge-b'] as const;
const HOME = [11, 21] as const;

const analysis = (warmupMs: number): NonNullable<ControlPlaneOptions['legitimacy']> => ({
  group: 'restart',
  downGraceMs: 1000,
  saveIntervalMs: 1000,
  analysis: { intervalMs: 400, silentAfterMs: 15_000, warmupMs, halfLifeMs: 3600_000, publishGapMs: 400, ruleTtlMs: 30_000, suspend: { minMs: 60_000, calmReports: 1 } },
});

async function gauge(ing: ControlledIngress, name: string): Promise<number> {
  const text = await (await fetch(`${ing.adminUrl}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

describe('legitimacy state across a control-plane restart', () => {
  let tdb: TestDb;
  let cpState: ReturnType<typeof tempDir>;
  const ingStates: Array<ReturnType<typeof tempDir>> = [];
  let cp: ControlPlane & { api: Api };
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  const ings: ControlledIngress[] = [];
  let password = '';

  before(async () => {
    tdb = await sqliteDb();
    cpState = tempDir();
    cp = await startTestControl(tdb.spec, cpState.path, { legitimacy: analysis(2000) });
    echo = await startEchoServer();
    const settings = { ...TEST_SETTINGS, legitimacy: { detector: { warmupMs: 1500, enterMinConn: 40, enterMinAuthFail: 40, calmMs: 1500 } } };
    assert.equal((await cp.api('PATCH', '/v1/settings', settings)).status, 200);
    password = (await cp.api('POST', '/v1/customers', { login: 'roamer' })).body.password;
    for (const id of IDS) {
      const token = await makeNode(cp.api, id);
      const st = tempDir('hopgate-ingress-state-');
      ingStates.push(st);
      ings.push(await startLinkedIngress(cp.url, token, st.path));
    }
  });

  after(async () => {
    for (const ing of ings) await ing.stop();
    await cp?.close();
    await echo?.close();
    await tdb?.cleanup();
    cpState?.remove();
    for (const st of ingStates) st.remove();
  });

  it('publishes the rules that were in force at its first round after a restart, without a new warm-up', async () => {
    // Teach: authenticated sessions from each ingress's home /24.
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        ings.flatMap((ing, k) =>
          Array.from({ length: 12 }, async (_, c) => {
            const s = await socks5ConnectRaw(ing.ports[0], 'roamer', password, '127.0.0.1', echo.port, { localAddress: `127.${HOME[k]}.1.${1 + c}`, timeoutMs: 3000 });
            s.destroy();
          }),
        ),
      );
      await new Promise((r) => setTimeout(r, 300));
    }
    await eventually('rules active at both ingresses', async () => (await Promise.all(ings.map((i) => gauge(i, 'hopgate_legitimacy_rules_active')))).every((v) => v === 1), { timeoutMs: 12_000, everyMs: 100 });
    const classes = (): string[][] => ings.map((ing) => HOME.map((h) => ing.ingress!.runtime.legitimacy!.enforcer.classify(`127.${h}.1.9`)));
    const taught = classes();
    assert.equal(taught[0]![0], 'expected');
    assert.match(taught[0]![1]!, /^unlikely/);
    assert.equal(taught[1]![1], 'expected');
    assert.match(taught[1]![0]!, /^unlikely/);
    const stateFile = join(cpState.path, 'legitimacy-state.json');
    await eventually('the learned state saved while running', () => existsSync(stateFile));
    const revBefore = await Promise.all(ings.map((i) => gauge(i, 'hopgate_legitimacy_rules_revision')));

    // Restart on the same state dir and port, with a warm-up that would take ten minutes.
    const port = Number(new URL(cp.url).port);
    await cp.close();
    const restartedAt = Date.now();
    cp = await startTestControl(tdb.spec, cpState.path, { port, legitimacy: analysis(600_000) });
    // (also lets this process see the old server's keep-alive sockets close before the API is called on the same port)
    await eventually('both ingresses back on the stream', () => cp.hub.subscribers.size >= 2 || undefined);
    const view = (await cp.api('GET', '/v1/legitimacy')).body;
    assert.equal(view.mode, 'active', 'the mode in force came back with the state');
    assert.ok(view.prefixes > 0);

    // Every ingress gets a new, active rule set from the restarted control plane.
    await eventually('a fresh active rule set at both ingresses', async () => {
        for (let k = 0; k < ings.length; k++) {
          const ing = ings[k]!;
          if ((await gauge(ing, 'hopgate_legitimacy_rules_revision')) <= revBefore[k]!) return false;
          if ((await gauge(ing, 'hopgate_legitimacy_rules_active')) !== 1) return false;
          if ((await gauge(ing, 'hopgate_legitimacy_rules_suspended')) !== 0) return false;
        }
        return true;
      }, { timeoutMs: 8000, everyMs: 100 });
    const ms = Date.now() - restartedAt;
    assert.deepEqual(classes(), taught, 'the same classes, nothing relearned');
    const after = (await cp.api('GET', '/v1/legitimacy')).body;
    assert.equal(after.mode, 'active');
    for (const i of after.ingresses) assert.ok(i.ackedRevision > 0 && i.ackedRevision === i.revision, `${i.id} acked ${i.ackedRevision} of ${i.revision}`);
    console.log(`# rules back in force at both ingresses ${ms} ms after the restart`);
  });

  it('a corrupt state file is moved aside and the analysis starts from scratch', async () => {
    const port = Number(new URL(cp.url).port);
    await cp.close();
    writeFileSync(join(cpState.path, 'legitimacy-state.json'), '{"v":1,"group":"restart","prefixes":[["127.11');
    cp = await startTestControl(tdb.spec, cpState.path, { port, legitimacy: analysis(600_000) });
    await eventually('both ingresses back on the stream', () => cp.hub.subscribers.size >= 2 || undefined);
    const view = (await cp.api('GET', '/v1/legitimacy')).body;
    assert.equal(view.mode, 'warmup');
    assert.equal(view.prefixes, 0);
    assert.equal(readdirSync(cpState.path).filter((n) => n.startsWith('legitimacy-state.json.corrupt-')).length, 1);
  });
});

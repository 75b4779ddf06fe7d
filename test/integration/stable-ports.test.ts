/**
 * Stable ports through the control plane's config stream (issue 17): draining
 * an exit moves none of a customer's other ports; the drained exit's port is
 * served by the same replacement (same country first) on every connection,
 * through real clients (curl over HTTP and SOCKS5); undraining gives it back.
 * Before the fix the control plane left the drained exit out of the customer's
 * list, so every later port shifted by one.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { sqliteDb, tempDir, type TestDb } from '../helpers/control-fixtures.js';
import { TEST_SETTINGS, makeNode, startLinkedIngress, startTestControl, type Api } from '../helpers/control-link-fixtures.js';
import { eventually } from '../helpers/eventually.js';
import { exitEntry, startTestExit, type TestExit } from '../helpers/exits.js';
import { curl } from '../helpers/curl.js';
import { startWhoami } from '../../src/cli/demo-target.js';
import { formatPortTable, type PortTable } from '../../src/shared/routing/port-table.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ControlledIngress } from '../../src/processes/controlled-ingress.js';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { freePortRange } from '../helpers/ports.js';

const EXITS = [
  ['us-1', '127.0.0.2', 'us'],
  ['us-2', '127.0.0.3', 'us'],
  ['de-1', '127.0.0.4', 'de'],
  ['gb-1', '127.0.0.5', 'gb'],
  ['de-2', '127.0.0.6', 'de'],
] as const;
const ipOf = (id: string): string => EXITS.find((e) => e[0] === id)![1];
const PORTS = 8;
const INGRESS_ADMIN_TOKEN = 'stable-ports-ingress-admin-token';

describe('stable ports across a drain (control plane → ingress)', () => {
  let tdb: TestDb;
  let cpState: ReturnType<typeof tempDir>;
  let ingState: ReturnType<typeof tempDir>;
  let cp: ControlPlane & { api: Api };
  let call: Api;
  let ing: ControlledIngress;
  let exits: TestExit[];
  let whoami: Server;
  let target: string;
  let base: number;
  let password: string;

  before(async () => {
    tdb = await sqliteDb();
    cpState = tempDir();
    ingState = tempDir('hopgate-ingress-state-');
    whoami = await startWhoami('127.0.0.1', 0);
    target = `http://127.0.0.1:${(whoami.address() as { port: number }).port}/`;
    exits = await Promise.all(EXITS.map(([id, ip]) => startTestExit(id, ip)));
    cp = await startTestControl(tdb.spec, cpState.path);
    call = cp.api;
    base = await freePortRange(PORTS);
    const settings = { ...TEST_SETTINGS, listen: { host: '127.0.0.1', ports: [base, base + PORTS - 1] }, metrics: { host: '127.0.0.1', port: 0, token: INGRESS_ADMIN_TOKEN } };
    assert.equal((await call('PATCH', '/v1/settings', settings)).status, 200);
    for (const [i, e] of exits.entries()) {
      const r = await call('POST', '/v1/exits', exitEntry(e, EXITS[i]![2]));
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const c = await call('POST', '/v1/customers', { login: 'alice', exits: ['us-1', 'us-2', 'de-1', 'gb-1', 'de-2'] });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    password = c.body.password;
    // The admin address and token from the settings (`metrics`), as a deployed node has them.
    ing = await startLinkedIngress(cp.url, await makeNode(call, 'edge-1'), ingState.path, { admin: undefined });
  });
  after(async () => {
    await ing?.stop();
    await cp?.close();
    await Promise.all((exits ?? []).map((e) => e.node.shutdown(100)));
    whoami?.close();
    await tdb?.cleanup();
    cpState?.remove();
    ingState?.remove();
  });

  /** The address the target saw through this port, or the proxy's error code. */
  async function seen(scheme: 'http' | 'socks5h', port: number, user = 'alice'): Promise<string> {
    const r = await curl(['-i', '-x', `${scheme}://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}`, target], 8000);
    const code = /X-Hopgate-Error: (\S+)/i.exec(r.stdout)?.[1];
    if (code) return code;
    return /"youCameFrom":"([^"]+)"/.exec(r.stdout)?.[1] ?? `curl exit ${r.code}: ${r.stderr.trim()}`;
  }

  async function inForce(): Promise<void> {
    const rev = (await call('GET', '/v1/revision')).body.revision;
    await eventually(`revision ${rev} in force`, () => ing.ingress!.runtime.snapshot.revision === rev);
  }

  async function portsNow(): Promise<string[]> {
    const out: string[] = [];
    for (let i = 1; i <= EXITS.length; i++) out.push(await seen(i % 2 ? 'http' : 'socks5h', base + i));
    return out;
  }

  it('drain us-1: ports 2-5 keep their exits, port 1 is served by us-2 every time; undrain restores it', async () => {
    await inForce();
    const before = await portsNow();
    assert.deepEqual(before, EXITS.map((e) => e[1]), 'port base+i is the i-th exit');

    assert.equal((await call('PATCH', '/v1/exits/us-1', { drain: true })).status, 200);
    await inForce();
    const after = await portsNow();
    assert.deepEqual(after.slice(1), before.slice(1), 'no other port moved');
    for (let k = 0; k < 6; k++) assert.equal(await seen(k % 2 ? 'http' : 'socks5h', base + 1), ipOf('us-2'), 'the same replacement, same country, every time');
    // random choices never land on the drained exit
    for (let k = 0; k < 10; k++) assert.notEqual(await seen('socks5h', base), ipOf('us-1'));
    // the table `hopgate ports` prints: the ingress admin's /v1/ports answer, with live health
    const auth = { headers: { authorization: `Bearer ${INGRESS_ADMIN_TOKEN}` } };
    const res = await fetch(`${ing.adminUrl}/v1/ports/alice`, auth);
    assert.equal(res.status, 200, await res.clone().text());
    const table = (await res.json()) as PortTable;
    const row = table.rows.find((r) => r.port === base + 1)!;
    assert.deepEqual([row.meaning, row.state, row.servedBy?.id], ['us-1', 'drained', 'us-2']);
    assert.match(formatPortTable(table), new RegExp(`\\n${base + 1}\\s+1\\s+us-1 \\(drained\\)\\s+127\\.0\\.0\\.2\\s+country us\\s+drained\\s+→ us-2 \\(127\\.0\\.0\\.3\\)`));
    for (const r of table.rows.filter((x) => x.port !== null && x.port > base + 1 && x.port <= base + EXITS.length)) assert.equal(r.state, 'up', `port ${r.port}`);

    // drain the replacement too: port 1 moves on to the next choice, the other ports still stay
    assert.equal((await call('PATCH', '/v1/exits/us-2', { drain: true })).status, 200);
    await inForce();
    const twice = await portsNow();
    assert.deepEqual(twice.slice(2), before.slice(2));
    assert.ok([ipOf('de-1'), ipOf('gb-1'), ipOf('de-2')].includes(twice[0]!), `no US exit left: any other of alice's (${twice[0]})`);
    assert.ok([ipOf('de-1'), ipOf('gb-1'), ipOf('de-2')].includes(twice[1]!), `port 2 (us-2) has its own replacement (${twice[1]})`);
    for (let k = 0; k < 4; k++) {
      assert.equal(await seen('http', base + 1), twice[0], 'stable replacement');
      assert.equal(await seen('socks5h', base + 2), twice[1], 'stable replacement');
    }

    // a country tag on a numbered port counts within that country: the 1st and 2nd DE exits
    assert.equal(await seen('http', base + 1, 'alice-country-de'), ipOf('de-1'));
    assert.equal(await seen('socks5h', base + 2, 'alice-cc-DE'), ipOf('de-2'));
    assert.equal(await seen('http', base + 3, 'alice-country-de'), 'NO_EXIT_MATCH', 'alice has two DE exits');

    // `hopgate exits list` adds the quality the ingress measured (the traffic above: every exit reached, no probes)
    const cli = await promisify(execFile)(process.execPath, ['dist/src/cli/main.js', 'exits', 'list', '--control', cp.url, '--token', cp.token.token, '--ingress', ing.adminUrl!], {
      env: { ...process.env, HOPGATE_INGRESS_ADMIN_TOKEN: INGRESS_ADMIN_TOKEN },
    });
    assert.match(cli.stdout, /QUALITY\s+LINKS\n/);
    assert.match(cli.stdout, /\nde-1 .* active\s+100 \(100%\)\s+-\n/);
    assert.match(cli.stdout, /\nus-1 .* draining\s+100 \(100%\)\s+-\n/);
    assert.match(cli.stdout, /quality as measured by the ingress at http:\/\/127\.0\.0\.1:\d+/);

    for (const id of ['us-1', 'us-2']) assert.equal((await call('PATCH', `/v1/exits/${id}`, { drain: false })).status, 200);
    await inForce();
    assert.deepEqual(await portsNow(), before, 'undrained: every port as at first');
  });
});

/**
 * Link keys through the control plane (issue 19, docs/EXITS.md "Link keys"), on
 * SQLite and PostgreSQL: a hopgate exit's link port and pinned fingerprint in
 * the exit inventory (validated, rendered to the ingresses), an ingress node's
 * fingerprint reported with its acks and read by the exit with its own link
 * token, and key rotations on both sides without a gap — live tunnels on old
 * links keep going, new links use the new key, a retired key is refused.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ControlPlane } from '../../src/control/control-plane.js';
import type { ControlledIngress } from '../../src/processes/controlled-ingress.js';
import { dialLinkTls, LinkIdentitySource, loadOrCreateLinkIdentity, promoteNextLinkIdentity, stageNextLinkIdentity } from '../../src/link/identity.js';
import { ExitLinkKeys } from '../../src/exit/link-keys.js';
import { EXIT_LOGIN } from '../../src/cli/exit.js';
import { createLogger } from '../../src/shared/log.js';
import { dialects, tempDir, type TestDb } from '../helpers/control-fixtures.js';
import { TEST_SETTINGS, connectTunnel, echoThrough, makeNode, startLinkedIngress, startTestControl, type Api, type Tunnel } from '../helpers/control-link-fixtures.js';
import { startEchoServer } from '../helpers/net.js';
import { startLinkExit, type LinkExit } from '../helpers/link-exits.js';
import { eventually } from '../helpers/eventually.js';
import { authApi } from '../helpers/control-fixtures.js';

const cases = await dialects();

for (const dc of cases) {
  describe(`link keys through the control plane on ${dc.name}`, { skip: dc.skip }, () => {
    let tdb: TestDb;
    const dirs: Array<ReturnType<typeof tempDir>> = [];
    let cp: ControlPlane & { api: Api };
    let call: Api;
    let exit: LinkExit;
    let ing: ControlledIngress | undefined;
    let keys: ExitLinkKeys | undefined;
    let echo: Awaited<ReturnType<typeof startEchoServer>>;
    let password = '';
    let linkToken = '';
    const tunnels: Tunnel[] = [];

    before(async () => {
      tdb = await dc.make();
      for (let i = 0; i < 2; i++) dirs.push(tempDir('hopgate-linkkeys-'));
      cp = await startTestControl(tdb.spec, dirs[0]!.path);
      call = cp.api;
      echo = await startEchoServer();
      // No ingress pinned at start: the pins come from the control plane.
      exit = await startLinkExit('lx-1', '127.0.0.2', []);
      assert.equal((await call('PATCH', '/v1/settings', TEST_SETTINGS)).status, 200);
    });
    after(async () => {
      keys?.stop();
      for (const t of tunnels) t.socket.destroy();
      await ing?.stop();
      await exit?.stop();
      await cp?.close();
      await echo?.close();
      await tdb?.cleanup();
      for (const d of dirs) d.remove();
    });

    /** The ingress holds the control plane's latest revision. */
    const synced = async (): Promise<void> => {
      const r = await call<{ revision: number }>('GET', '/v1/revision');
      await ing!.waitForRevision(r.body.revision);
    };
    const tunnel = async (): Promise<Tunnel> => {
      const t = await connectTunnel(ing!.ports[0], 'lena', password, echo.port);
      assert.equal(t.status, 200, `CONNECT answered ${t.status} ${t.code ?? ''}`);
      tunnels.push(t);
      return t;
    };

    it('keeps a hopgate exit\'s link port and pin, refuses what an ingress could not use, and renders it', async () => {
      const base = { id: 'lx-1', kind: 'hopgate', host: exit.ip, port: exit.socksPort, username: EXIT_LOGIN, password: 'not-the-relay-secret', egressIp: exit.ip, country: 'de' };
      const fp = exit.identity.fingerprint;
      const bad = await call('POST', '/v1/exits', { ...base, id: 'sx', kind: 'socks5', link: { port: exit.links.port, fingerprint: fp } });
      assert.equal(bad.status, 400, JSON.stringify(bad.body));
      assert.match(bad.body.error.message, /only a hopgate exit has a link/);
      const r = await call('POST', '/v1/exits', { ...base, link: { port: exit.links.port, fingerprint: fp } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.deepEqual(r.body.link, { port: exit.links.port, fingerprint: fp, nextFingerprint: null, tokenSet: false });
      const same = await call('POST', '/v1/exits/lx-1/link-key', { fingerprint: fp.toLowerCase() });
      assert.equal(same.status, 400, 'the next key is not the current one');
      const retire = await call('POST', '/v1/exits/lx-1/link-key/retire');
      assert.equal(retire.status, 409);
      assert.equal(retire.body.error.code, 'no_next_link_key');
      // Hops carry the link's connection (link-via.test.ts): they are rendered beside it.
      const hop = { kind: 'socks5', host: '127.0.0.9', port: 1 };
      const hops = await call('PATCH', '/v1/exits/lx-1', { via: [hop] });
      assert.equal(hops.status, 200, JSON.stringify(hops.body));
      let rendered = await call('GET', '/v1/ingress-config?format=json');
      let e = rendered.body.exits.find((x: { id: string }) => x.id === 'lx-1');
      assert.deepEqual(e.link, { port: exit.links.port, fingerprint: fp });
      assert.deepEqual(e.via, [hop]);
      assert.equal((await call('PATCH', '/v1/exits/lx-1', { via: [] })).status, 200);
      rendered = await call('GET', '/v1/ingress-config?format=json');
      e = rendered.body.exits.find((x: { id: string }) => x.id === 'lx-1');
      assert.deepEqual(e.link, { port: exit.links.port, fingerprint: fp });
      const [row] = await tdb.query<{ link_port: number; link_fingerprint: string }>('select link_port, link_fingerprint from exits where id = $1', ['lx-1']);
      assert.equal(Number(row!.link_port), exit.links.port);
      assert.equal(row!.link_fingerprint, fp);
    });

    it('records the fingerprint an ingress reports; the exit reads the pins with its own link token and carries tunnels over links', async () => {
      const c = await call('POST', '/v1/customers', { login: 'lena', exits: ['lx-1'] });
      assert.equal(c.status, 201);
      password = c.body.password;
      ing = await startLinkedIngress(cp.url, await makeNode(call, 'edge-1'), dirs[1]!.path, { linkReportMs: 100 });
      const ingressFp = new LinkIdentitySource(join(dirs[1]!.path, 'link'), 'x').current().fingerprint;
      await eventually('the node reports its link fingerprint', async () => (await call('GET', '/v1/ingress-nodes/edge-1')).body.linkFingerprint === ingressFp);

      const t = await call<{ token: string }>('POST', '/v1/exits/lx-1/link-token');
      assert.equal(t.status, 200);
      linkToken = t.body.token;
      assert.match(linkToken, /^hgel_/);
      const asExit = (path: string) => authApi(cp.url)('GET', path, `Bearer ${linkToken}`);
      assert.deepEqual((await asExit('/v1/link-pins')).body, { fingerprints: [ingressFp] });
      assert.equal((await asExit('/v1/exits')).status, 403, 'a link token reads pins, nothing else');
      assert.equal((await authApi(cp.url)('GET', '/v1/link-pins', 'Bearer hgel_wrong')).status, 401);
      assert.ok(!JSON.stringify(await tdb.query('select * from exits')).includes(linkToken), 'only its hash is stored');

      keys = new ExitLinkKeys({ listener: exit.links, identity: new LinkIdentitySource(exit.dir, 'test exit'), control: { url: cp.url, token: linkToken }, log: createLogger('silent') });
      await keys.refresh();
      assert.deepEqual(exit.links.pins, [ingressFp]);
      // The ingress holds a wrong SOCKS5 secret for it: an echo proves the link carried it.
      assert.equal(await echoThrough(await tunnel(), 'over the link'), 'over the link');
      assert.ok(exit.links.counters.streams >= 1);
    });

    it("rotates the exit's key without a gap: old links keep going, new links use the new key, the retired key is refused", async () => {
      const old = exit.identity;
      const live = await tunnel();
      assert.equal(await echoThrough(live, 'before'), 'before');
      const next = stageNextLinkIdentity(exit.dir, 'test exit');
      const staged = await call('POST', '/v1/exits/lx-1/link-key', { fingerprint: next.fingerprint });
      assert.equal(staged.status, 200, JSON.stringify(staged.body));
      assert.equal(staged.body.link.nextFingerprint, next.fingerprint);
      await synced();
      // The exit presents the new key on new links; the live one keeps its session.
      promoteNextLinkIdentity(exit.dir);
      await keys!.refresh();
      assert.equal(exit.links.fingerprint, next.fingerprint);
      assert.equal(await echoThrough(live, 'during'), 'during');

      const retired = await call('POST', '/v1/exits/lx-1/link-key/retire');
      assert.equal(retired.status, 200);
      assert.deepEqual(retired.body.link, { port: exit.links.port, fingerprint: next.fingerprint, nextFingerprint: null, tokenSet: true });
      await synced();
      // Links made with the old key drain: the live tunnel on one finishes, new tunnels take new links.
      const pool = ing!.ingress!.runtime.links.all()[0]!;
      assert.equal(await echoThrough(await tunnel(), 'after'), 'after');
      assert.equal(await echoThrough(live, 'still'), 'still');
      assert.ok(pool.liveKeys.length > 0 && pool.liveKeys.every((k) => k === next.fingerprint), `links taking streams use the new key only: ${pool.liveKeys.join(', ')}`);

      // The old key, presented again, is refused by an ingress holding the control plane's pins.
      const pins = (await call('GET', '/v1/ingress-config?format=json')).body.exits.find((x: { id: string }) => x.id === 'lx-1').link;
      assert.deepEqual(pins, { port: exit.links.port, fingerprint: next.fingerprint });
      exit.links.setIdentity(old);
      const me = loadOrCreateLinkIdentity(join(dirs[1]!.path, 'link'), 'x');
      await assert.rejects(dialLinkTls({ host: exit.ip, port: exit.links.port, identity: me, pinned: [pins.fingerprint], timeoutMs: 3000 }), /is not pinned/);
      exit.links.setIdentity(next);
    });

    it("rotates the ingress's key: the next one is reported and pinned, promoted, and the old one leaves the exit's pins", async () => {
      const dir = join(dirs[1]!.path, 'link');
      const current = loadOrCreateLinkIdentity(dir, 'x');
      const next = stageNextLinkIdentity(dir, 'x');
      await eventually('the node reports its next key', async () => (await call('GET', '/v1/ingress-nodes/edge-1')).body.nextLinkFingerprint === next.fingerprint);
      await keys!.refresh();
      assert.deepEqual(exit.links.pins, [current.fingerprint, next.fingerprint]);
      const live = await tunnel();
      assert.equal(await echoThrough(live, 'old ingress key'), 'old ingress key');

      promoteNextLinkIdentity(dir);
      await eventually('the node reports only the new key', async () => {
        const n = (await call('GET', '/v1/ingress-nodes/edge-1')).body;
        return n.linkFingerprint === next.fingerprint && n.nextLinkFingerprint === null;
      });
      const refusedBefore = exit.links.counters.refusedLinks;
      await keys!.refresh();
      assert.deepEqual(exit.links.pins, [next.fingerprint]);
      // Links on the old ingress key drain (the live tunnel finishes on its link); new ones present the new key.
      assert.equal(await echoThrough(live, 'draining'), 'draining');
      assert.equal(await echoThrough(await tunnel(), 'new ingress key'), 'new ingress key');
      assert.ok(exit.links.liveIngressKeys.length > 0 && exit.links.liveIngressKeys.every((k) => k === next.fingerprint), `links taking streams use the new ingress key only: ${exit.links.liveIngressKeys.join(', ')}`);
      // The retired ingress key is refused.
      await dialLinkTls({ host: exit.ip, port: exit.links.port, identity: current, pinned: [exit.links.fingerprint], timeoutMs: 3000 })
        .then((s) => s.destroy())
        .catch(() => undefined);
      await eventually('the old ingress key refused', () => exit.links.counters.refusedLinks > refusedBefore);
    });

    it('a link token stops working once its exit is no hopgate exit any more', async () => {
      const asExit = () => authApi(cp.url)('GET', '/v1/link-pins', `Bearer ${linkToken}`);
      assert.equal((await asExit()).status, 200);
      const patched = await call('PATCH', '/v1/exits/lx-1', { kind: 'socks5', link: null });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.equal((await asExit()).status, 401, 'a socks5 exit has no link pins to read');
    });
  });
}

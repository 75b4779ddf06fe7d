/**
 * Change messages in over JetStream (docs/EVENTS.md), on SQLite and PostgreSQL,
 * with a nats-server of the test's own: REST operations sent as messages on
 * hopgate.requests.<operationId> are applied once per Nats-Msg-Id and answered on
 * Hopgate-Reply-To as the REST API answers; bad messages get error answers and
 * never stop the consumer; a restarted control plane continues from the durable
 * consumer; two replicas apply each request once.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from '../../src/control/control-plane.js';
import { authApi, basicAuth, dialects, tempDir, TEST_COST } from '../helpers/control-fixtures.js';
import { natsServerUnavailable, startNatsServer } from '../helpers/nats-server.js';
import { NatsControl } from '../helpers/nats-control.js';
import { eventually } from '../helpers/eventually.js';
import { Requester } from '../helpers/nats-requests.js';

const cases = await dialects();
const natsSkip = natsServerUnavailable();

/** One operator token for every replica (each has its own state dir). */
const ADMIN = 'hgop_' + 'n'.repeat(40);

/** A request window of 300 ms, so a test can send a key again past it and reach the database's key check. */
const REQUESTS = { duplicateWindowMs: 300, retryDelayMs: 200, ackWaitMs: 5000, staleMs: 3000 };

function options(db: string, stateDir: string, natsUrl: string): ControlPlaneOptions {
  // The events-out publisher keeps its default poll (500 ms): nothing here waits for an event out
  // (control-jetstream.test.ts does), and at 100 ms its rounds were a transaction every 100 ms per replica.
  return { db, stateDir, adminToken: ADMIN, port: 0, passwordCost: TEST_COST, jetstream: { url: natsUrl, publishTimeoutMs: 1000 }, natsRequests: REQUESTS };
}

/** The outcome counts of hopgate_control_nats_requests_total on `cp`. */
async function outcomes(cp: ControlPlane): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await cp.metrics.natsRequests.get()).values) out[String(v.labels.outcome)] = v.value;
  return out;
}

for (const dc of cases) {
  describe(`change messages in over JetStream on ${dc.name}`, { skip: dc.skip || natsSkip }, () => {
    let w: NatsControl;
    let cp: ControlPlane;
    let nc: NatsConnection;
    let rq: Requester;
    let op: string;
    const rest = () => authApi(cp.url);

    before(async () => {
      w = await NatsControl.start(dc, options);
      cp = w.cp;
      op = `Bearer ${cp.token.token}`;
      nc = await connect({ servers: w.nats.url });
      const jsm = await nc.jetstreamManager();
      await eventually('stream HOPGATE_REQUESTS and its consumer', () => jsm.consumers.info('HOPGATE_REQUESTS', 'hopgate-control'), { timeoutMs: 20_000 });
      rq = await Requester.open(nc);
    });
    after(async () => {
      await nc?.close();
      await w?.close();
    });

    it('creates a customer and an exit by message; the REST API shows them; answers are what REST answers', { timeout: 60_000 }, async () => {
      const c = await rq.send('createCustomer', { body: { login: 'nats_alice', maxConnections: 5 } }, { authorization: op });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      assert.equal(c.operationId, 'createCustomer');
      assert.equal(typeof c.body.password, 'string');
      const got = await rest()('GET', `/v1/customers/${c.body.customer.id}`, op);
      assert.equal(got.status, 200);
      assert.deepEqual(got.body, c.body.customer, 'the answer carries the same view REST gives');

      const e = await rq.send('createExit', { body: { id: 'nats-exit-1', kind: 'socks5', host: '127.0.0.1', port: 1080, egressIp: '127.0.0.2', country: 'us' } }, { authorization: op });
      assert.equal(e.status, 201, JSON.stringify(e.body));
      assert.equal((await rest()('GET', '/v1/exits/nats-exit-1', op)).status, 200);

      const u = await rq.send('updateCustomer', { params: { id: c.body.customer.id }, body: { maxConnections: 7 } }, { authorization: op });
      assert.equal(u.status, 200);
      assert.equal((await rest()('GET', `/v1/customers/${c.body.customer.id}`, op)).body.maxConnections, 7);

      const list = await rq.send('listCustomers', { query: { login: 'nats_alice' } }, { authorization: op });
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.customers.map((x: { login: string }) => x.login), ['nats_alice']);

      const del = await rq.send('deleteExit', { params: { id: 'nats-exit-1' } }, { authorization: op });
      assert.equal(del.status, 204);
      assert.equal(del.body, null);
      assert.equal((await rest()('GET', '/v1/exits/nats-exit-1', op)).status, 404);
    });

    it('bad messages are answered with errors, never applied, never stop the consumer', { timeout: 60_000 }, async () => {
      const v = await rq.send('createCustomer', { body: { login: 'not a login!' } }, { authorization: op });
      assert.equal(v.status, 400);
      assert.equal(v.body.error.code, 'invalid_request');
      assert.equal(v.body.error.field, 'body.login', 'the same field REST names');
      const restSays = await rest()('POST', '/v1/customers', op, { login: 'not a login!' });
      assert.deepEqual(v.body, restSays.body, 'the same validation error as REST');

      const extra = await rq.send('createCustomer', { body: { login: 'nats_extra', color: 'red' } }, { authorization: op });
      assert.equal(extra.status, 400);
      const unknown = await rq.send('dropAllTables', {}, { authorization: op });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, 'unknown_operation');
      const notJson = await rq.send('createCustomer', null, { authorization: op, raw: '{"body": {' });
      assert.equal(notJson.status, 400);
      assert.match(notJson.body.error.message, /not JSON/);
      const shape = await rq.send('createCustomer', null, { authorization: op, raw: '[1,2]' });
      assert.equal(shape.status, 400);
      const big = await rq.send('createCustomer', { body: { login: 'nats_big', note: 'x'.repeat(70_000) } }, { authorization: op });
      assert.equal(big.status, 413);
      assert.equal(big.body.error.code, 'payload_too_large');
      const noParam = await rq.send('getCustomer', {}, { authorization: op });
      assert.equal(noParam.status, 400);
      assert.equal(noParam.body.error.field, 'params.id');
      const bodyOnGet = await rq.send('getRevision', { body: { a: 1 } }, { authorization: op });
      assert.equal(bodyOnGet.status, 400);
      const missing = await rq.send('getCustomer', { params: { id: '../customers' } }, { authorization: op });
      assert.equal(missing.status, 404, 'a parameter is one path segment: it cannot reach another route');
      // Nor a dot segment, which the router resolves (/v1/customers/../usage is GET /v1/usage).
      for (const id of ['..', '.']) {
        const dots = await rq.send('getCustomerUsage', { params: { id } }, { authorization: op });
        assert.equal(dots.status, 400, `${id}: ${JSON.stringify(dots.body)}`);
        assert.equal(dots.body.error.field, 'params.id');
      }
      // No Nats-Msg-Id: answered by subject and reply (the key is what makes a request safe to send again).
      const before = rq.answers.length;
      await rq.publish('getRevision', {}, { id: '', authorization: op });
      const noKey = await eventually('an answer to a keyless request', () => rq.answers.slice(before).find((a) => a.requestId === ''));
      assert.equal(noKey.status, 400);
      assert.equal(noKey.body.error.field, 'Nats-Msg-Id');

      // A reply subject inside our own streams is refused: not run, not answered.
      const rejected = (await outcomes(cp)).rejected ?? 0;
      const sneaky = await rq.publish('createCustomer', { body: { login: 'nats_sneaky' } }, { authorization: op, replyTo: 'hopgate.events.customer.created' });
      await eventually('the sneaky request rejected', async () => ((await outcomes(cp)).rejected ?? 0) === rejected + 1);
      assert.equal(rq.answersTo(sneaky.id).length, 0);

      // Still consuming, and nothing of the above was applied.
      const ok = await rq.send('getRevision', {}, { authorization: op });
      assert.equal(ok.status, 200);
      for (const login of ['nats_extra', 'nats_big', 'nats_sneaky']) assert.equal((await rest()('GET', `/v1/customers?login=${login}`, op)).body.customers.length, 0, login);
      const jsm = await nc.jetstreamManager();
      await eventually('every message acked or terminated', async () => {
        const info = await jsm.consumers.info('HOPGATE_REQUESTS', 'hopgate-control');
        return info.num_pending === 0 && info.num_ack_pending === 0;
      });
    });

    it('the same auth as REST: operator token, a customer only on /v1/me', { timeout: 60_000 }, async () => {
      const none = await rq.send('listCustomers', {});
      assert.equal(none.status, 401);
      const wrong = await rq.send('listCustomers', {}, { authorization: 'Bearer hgop_wrong' });
      assert.equal(wrong.status, 401);
      const c = await rq.send('createCustomer', { body: { login: 'nats_bob' } }, { authorization: op });
      const bob = basicAuth('nats_bob', c.body.password);
      const me = await rq.send('getMe', {}, { authorization: bob });
      assert.equal(me.status, 200);
      assert.equal(me.body.login, 'nats_bob');
      const patched = await rq.send('patchMe', { body: { maxConnections: 3 } }, { authorization: bob });
      assert.ok([200, 400].includes(patched.status), JSON.stringify(patched.body));
      const asCustomer = await rq.send('listCustomers', {}, { authorization: bob });
      assert.equal(asCustomer.status, 403);
      const opOnMe = await rq.send('getMe', {}, { authorization: op });
      assert.equal(opOnMe.status, 403);
      const badPass = await rq.send('getMe', {}, { authorization: basicAuth('nats_bob', 'wrong') });
      assert.equal(badPass.status, 401);
      // Another customer sending bob's key gets neither bob's stored answer nor its own change applied silently.
      const carolPass = (await rq.send('createCustomer', { body: { login: 'nats_carol' } }, { authorization: op })).body.password as string;
      const key = `bob-key-${dc.name}`;
      const bobs = await rq.send('patchMe', { body: { exitHeader: true } }, { id: key, authorization: bob });
      assert.equal(bobs.status, 200, JSON.stringify(bobs.body));
      await rq.resendPastWindow('patchMe', { body: { exitHeader: true } }, { id: key, authorization: basicAuth('nats_carol', carolPass) });
      const carols = await eventually("carol's answer on bob's key", () => rq.answersTo(key)[1]);
      assert.equal(carols.status, 409, JSON.stringify(carols));
      assert.equal(carols.body.error.code, 'key_reused');
      assert.equal((await rq.send('getMe', {}, { authorization: basicAuth('nats_carol', carolPass) })).body.exitHeader, false, 'not applied for carol');
    });

    it('a duplicated Nats-Msg-Id is applied once: a replay gets the stored answer, without the password', { timeout: 60_000 }, async () => {
      const id = `dup-${dc.name}`;
      const first = await rq.send('createCustomer', { body: { login: 'nats_dup' } }, { id, authorization: op });
      assert.equal(first.status, 201);
      // Within the stream's duplicate window (300 ms here) JetStream itself drops a copy (no delivery,
      // no answer); past it the message is delivered again and the key table answers it.
      const resent = await rq.resendPastWindow('createCustomer', { body: { login: 'nats_dup_other' } }, { id, authorization: op });
      assert.equal(resent.duplicate, false, 'delivered past the window');
      const replay = await eventually('the replayed answer', () => rq.answersTo(id)[1]);
      assert.equal(replay.replayed, true);
      assert.equal(replay.status, 201);
      assert.deepEqual(replay.body.customer, first.body.customer, 'the same customer, not a new one');
      assert.equal(replay.body.password, undefined, 'the password is shown once');
      assert.deepEqual(replay.redacted, ['body.password']);
      assert.equal((await rest()('GET', '/v1/customers?login=nats_dup', op)).body.customers.length, 1);
      assert.equal((await rest()('GET', '/v1/customers?login=nats_dup_other', op)).body.customers.length, 0, 'a replay runs nothing, whatever it carries');
      // The key sent again for another operation: not run, and not answered as if that one had applied.
      const other = await rq.resendPastWindow('createExit', { body: { id: 'nats-dup-exit', kind: 'socks5', host: '127.0.0.1', port: 1080, egressIp: '127.0.0.3', country: 'us' } }, { id, authorization: op });
      assert.equal(other.duplicate, false);
      const reused = await eventually('the answer to the reused key', () => rq.answersTo(id)[2]);
      assert.equal(reused.operationId, 'createExit');
      assert.equal(reused.status, 409, JSON.stringify(reused));
      assert.equal(reused.body.error.code, 'key_reused');
      assert.equal((await rest()('GET', '/v1/exits/nats-dup-exit', op)).status, 404);
      // A known key is no credential: the stored answer goes only to its caller, authenticated again.
      for (const [n, authorization] of [[3, undefined], [4, 'Bearer hgop_wrong']] as const) {
        assert.equal((await rq.resendPastWindow('createCustomer', { body: { login: 'nats_dup' } }, { id, ...(authorization ? { authorization } : {}) })).duplicate, false);
        const stranger = await eventually(`answer ${n} to the key`, () => rq.answersTo(id)[n]);
        assert.equal(stranger.status, 401, JSON.stringify(stranger));
        assert.equal(stranger.replayed, undefined);
        assert.equal(stranger.body.customer, undefined, 'no stored answer without the credentials');
      }
      // A refused request (here 409, the login taken) changed nothing and keeps no key: sent again, it runs again.
      const conflict = await rq.send('createCustomer', { body: { login: 'nats_dup' } }, { authorization: op });
      assert.equal(conflict.status, 409);
      assert.deepEqual(await cp.store.requestKeys.claim(conflict.requestId, 'createCustomer'), { state: 'new' }, 'no key kept for a refused request');
      await cp.store.requestKeys.release(conflict.requestId);
      const unauth = await rq.send('createCustomer', { body: { login: 'nats_dup' } });
      assert.equal(unauth.status, 401);
      assert.deepEqual(await cp.store.requestKeys.claim(unauth.requestId, 'createCustomer'), { state: 'new' }, 'unauthenticated messages fill no table');
      await cp.store.requestKeys.release(unauth.requestId);
    });

    it('a key left claimed by a run that never finished: held back while fresh, then answered in doubt, never run', { timeout: 60_000 }, async () => {
      // As a replica killed between claiming and answering leaves it.
      const fresh = `fresh-${dc.name}`;
      const claimedAt = Date.now();
      assert.deepEqual(await cp.store.requestKeys.claim(fresh, 'createCustomer'), { state: 'new' });
      const retried = (await outcomes(cp)).retried ?? 0;
      const held = await rq.publish('createCustomer', { body: { login: 'nats_fresh' } }, { id: fresh, authorization: op });
      await eventually('the held request given back', async () => ((await outcomes(cp)).retried ?? 0) >= retried + 2);
      assert.equal(rq.answersTo(held.id).length, 0, 'no answer while the claim is fresh');
      const doubt = await eventually('the in-doubt answer once the claim is stale', () => rq.answersTo(held.id)[0], { timeoutMs: 20_000 });
      assert.ok(Date.now() - claimedAt >= REQUESTS.staleMs, 'not before the claim is stale');
      assert.equal(doubt.status, 409);
      assert.equal(doubt.body.error.code, 'request_in_doubt');
      assert.equal((await rest()('GET', '/v1/customers?login=nats_fresh', op)).body.customers.length, 0, 'not run');
    });

    it('a control plane restarted mid-stream continues from the durable consumer: every request answered, each applied once, in order', { timeout: 90_000 }, async () => {
      const c = await rq.send('createCustomer', { body: { login: 'nats_restart' } }, { authorization: op });
      const ids: string[] = [];
      // The consumer takes one message at a time (max_ack_pending 1) and the plane stops at the first answer,
      // so all but a few of N are left for the restarted one: 30 show order and once-only as 100 did, at a
      // third of the requests (each several transactions; ~20 s for 100 on the shared PostgreSQL).
      const N = 30;
      for (let i = 1; i <= N; i++) ids.push((await rq.publish('updateCustomer', { params: { id: c.body.customer.id }, body: { maxConnections: i } }, { authorization: op })).id);
      // Stop the control plane the moment the first of them is answered: the rest are in the stream or in flight.
      const closing = new Promise<void>((resolve) => (rq.onAnswer = (a) => ids.includes(a.requestId) && ((rq.onAnswer = undefined), resolve(cp.close()))));
      await closing;
      const left = await (await nc.jetstreamManager()).consumers.info('HOPGATE_REQUESTS', 'hopgate-control');
      cp = await w.restart();
      await eventually(`all ${N} answered`, () => ids.every((id) => rq.answersTo(id).length > 0), { timeoutMs: 60_000, everyMs: 50 });
      assert.ok(left.num_pending + left.num_ack_pending > 0, `the restart came mid-stream (${left.num_pending} left)`);
      for (const id of ids) {
        const applied = rq.answersTo(id).filter((a) => !a.replayed);
        assert.equal(applied.length, 1, `${id} applied once`);
        assert.equal(applied[0]!.status, 200);
      }
      assert.equal((await rest()('GET', `/v1/customers/${c.body.customer.id}`, op)).body.maxConnections, N, 'applied in order: the last one wins');
      const updates = (await rest()('GET', '/v1/changes?limit=1000', op)).body;
      const mine = (updates.changes ?? updates).filter((x: { entity: string; entityId: string; op: string }) => x.entity === 'customer' && x.entityId === c.body.customer.id && x.op === 'update');
      assert.equal(mine.length, N, 'one update in the change log per request, none twice');
    });
  });
}

const pg = cases.find((c) => c.name === 'postgres')!;
describe('two replicas on one PostgreSQL share the durable consumer', { skip: pg.skip || natsSkip }, () => {
  it('each request is applied by exactly one replica, a resent key by none', { timeout: 90_000 }, async () => {
    const tdb = await pg.make();
    const states = [tempDir(), tempDir()];
    const nats = await startNatsServer();
    const cps: ControlPlane[] = [];
    let nc: NatsConnection | undefined;
    try {
      for (const st of states) cps.push(await startControlPlane(options(tdb.spec, st.path, nats.url)));
      const op = `Bearer ${cps[0]!.token.token}`;
      nc = await connect({ servers: nats.url });
      const jsm = await nc.jetstreamManager();
      await eventually('the request consumer', () => jsm.consumers.info('HOPGATE_REQUESTS', 'hopgate-control'), { timeoutMs: 20_000 });
      const rq = await Requester.open(nc);
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) ids.push((await rq.publish('createCustomer', { body: { login: `nats_r${i}` } }, { authorization: op })).id);
      await eventually('40 answered', () => ids.every((id) => rq.answersTo(id).length > 0), { timeoutMs: 60_000, everyMs: 50 });
      // Send every key again past the window: both replicas take some, and apply none.
      for (const id of ids) assert.equal((await rq.resendPastWindow('createCustomer', { body: { login: `nats_x_${id.slice(0, 8)}` } }, { id, authorization: op })).duplicate, false);
      await eventually('80 answers', () => ids.every((id) => rq.answersTo(id).length === 2), { timeoutMs: 60_000, everyMs: 50 });
      const [a, b] = [await outcomes(cps[0]!), await outcomes(cps[1]!)];
      assert.equal((a.applied ?? 0) + (b.applied ?? 0), 40, `applied once each: ${JSON.stringify([a, b])}`);
      assert.equal((a.replayed ?? 0) + (b.replayed ?? 0), 40);
      assert.ok((a.applied ?? 0) > 0 && (b.applied ?? 0) > 0, `both replicas took requests: ${JSON.stringify([a, b])}`);
      for (const id of ids) assert.deepEqual(rq.answersTo(id).map((x) => [x.status, x.replayed ?? false]), [[201, false], [201, true]]);
      const all = await authApi(cps[1]!.url)('GET', '/v1/customers?search=nats_', op);
      assert.equal(all.body.customers.length, 40, 'forty customers, no resent one');
    } finally {
      await nc?.close();
      for (const cp of cps) await cp.close();
      await nats.destroy();
      await tdb.cleanup();
      for (const st of states) st.remove();
    }
  });
});

/**
 * Outbox events to NATS JetStream, on SQLite and PostgreSQL, with a
 * nats-server of the test's own: every event arrives on hopgate.events.<kind>
 * once per idempotency key (read with a durable consumer), across a NATS
 * outage with changes made meanwhile (none lost, none invented), and /metrics
 * counts them.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AckPolicy, connect, type Consumer, type NatsConnection } from 'nats';
import { startControlPlane, type ControlPlane } from '../../src/control/control-plane.js';
import { CustomerCreate } from '../../src/control/api-schemas.js';
import { connect as tcpConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { dialects, sqliteDb, tempDir, TEST_COST } from '../helpers/control-fixtures.js';
import { freePort } from '../helpers/ports.js';
import { natsServerUnavailable, startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { NatsControl } from '../helpers/nats-control.js';
import { eventually } from '../helpers/eventually.js';

const cases = await dialects();
const natsSkip = natsServerUnavailable();

interface Seen {
  key: string;
  subject: string;
  body: { id: number; kind: string; idempotencyKey: string };
}

for (const dc of cases) {
  describe(`events to JetStream on ${dc.name}`, { skip: dc.skip || natsSkip }, () => {
    let w: NatsControl;
    let nats: NatsServer;
    let cp: ControlPlane;
    let nc: NatsConnection | undefined;
    let consumer: Consumer;
    const seen: Seen[] = [];
    /** Stream sequences of the messages in `seen`. */
    const seqs = new Set<number>();

    before(async () => {
      w = await NatsControl.start(dc, (db, stateDir, url) => ({
        db,
        stateDir,
        port: 0,
        passwordCost: TEST_COST,
        jetstream: { url, pollMs: 100, publishTimeoutMs: 1000, backoff: { baseMs: 100, maxMs: 500, jitter: 0.5 } },
      }));
      ({ nats, cp } = w);
    });
    after(async () => {
      await nc?.close();
      await w?.close();
    });

    const outboxKeys = async () => (await cp.store.outbox.list({ limit: 1000 })).map((e) => e.idempotencyKey);
    /**
     * Read what the durable consumer has (bounded: one fetch of at most `max`, 1 s). Asked for the
     * events still missing, the fetch ends as soon as they are in instead of always waiting out its
     * 1 s; an event too many in the stream is still caught by the stream's message count below.
     */
    const drain = async (max: number): Promise<number> => {
      const batch = await consumer.fetch({ max_messages: max, expires: 1000 });
      let n = 0;
      for await (const m of batch) {
        m.ack();
        // The same stored message again (same stream sequence) is this reader's redelivery, not a second
        // publish: NATS killed right after an ack may forget it. A second publish the stream let through
        // would have a sequence of its own and count as a key twice.
        if (seqs.has(m.seq)) continue;
        seqs.add(m.seq);
        seen.push({ key: m.headers?.get('Nats-Msg-Id') ?? '', subject: m.subject, body: m.json() });
        n++;
      }
      return n;
    };
    const allArrived = async (what: string) => {
      const keys = await outboxKeys();
      await eventually(what, async () => (await drain(Math.max(1, keys.length - seen.length)), seen.length >= keys.length && seen), { timeoutMs: 30_000, everyMs: 50 });
      const got = seen.map((s) => s.key);
      assert.equal(new Set(got).size, got.length, 'no key twice');
      assert.deepEqual([...got].sort(), [...keys].sort(), 'exactly the outbox events, none lost, none invented');
      for (const s of seen) {
        assert.equal(s.subject, `hopgate.events.${s.body.kind}`);
        assert.equal(s.body.idempotencyKey, s.key);
      }
      return keys.length;
    };

    it('every outbox event arrives once, on hopgate.events.<kind>, keyed by Nats-Msg-Id', { timeout: 60_000 }, async () => {
      const c = await cp.store.createCustomer(CustomerCreate.parse({ login: 'js_one' }), 'h', 'operator');
      for (let i = 0; i < 9; i++) await cp.store.updateCustomer(c.id, { maxConnections: i + 1 }, 'operator');
      // The stream is ensured by the control plane: wait for it, then read it with a durable consumer.
      nc = await connect({ servers: nats.url });
      const jsm = await nc.jetstreamManager();
      await eventually('stream HOPGATE_EVENTS', () => jsm.streams.info('HOPGATE_EVENTS'), { timeoutMs: 20_000 });
      await jsm.consumers.add('HOPGATE_EVENTS', { durable_name: 'test', ack_policy: AckPolicy.Explicit });
      consumer = await nc.jetstream().consumers.get('HOPGATE_EVENTS', 'test');
      const n = await allArrived('10 events on JetStream');
      assert.ok(n >= 10);
      const info = await jsm.streams.info('HOPGATE_EVENTS');
      assert.equal(info.config.storage, 'file');
      assert.equal(info.state.messages, n, 'the stream holds each event once');
    });

    it('a NATS outage with changes meanwhile: all arrive after it, none twice, none invented; /metrics counts them', { timeout: 90_000 }, async () => {
      await nc!.close();
      nc = undefined;
      await nats.stop();
      const c = await cp.store.createCustomer(CustomerCreate.parse({ login: 'js_outage' }), 'h', 'operator');
      for (let i = 0; i < 19; i++) await cp.store.updateCustomer(c.id, { maxConnections: i + 1 }, 'operator');
      await eventually('publish failures counted', async () => ((await cp.metrics.jsFailures.get()).values[0]?.value ?? 0) > 0, { timeoutMs: 20_000 });
      await nats.start();
      nc = await connect({ servers: nats.url });
      consumer = await nc.jetstream().consumers.get('HOPGATE_EVENTS', 'test');
      const n = await allArrived('30 events on JetStream after the outage');
      const info = await (await nc.jetstreamManager()).streams.info('HOPGATE_EVENTS');
      assert.equal(info.state.messages, n, 'the stream holds each event once');
      // The consumer can have an event before its publisher has the ack and marks it: the backlog (as of the
      // publisher's last round, every 100 ms) reaches 0 a moment later.
      const metrics = await eventually('backlog 0', async () => {
        const text = await cp.metrics.registry.metrics();
        return /^hopgate_control_jetstream_backlog_events 0$/m.test(text) && text;
      });
      // A publish whose ack was lost in the outage is sent again and dropped by the stream: counted twice, stored once.
      const published = Number(/^hopgate_control_jetstream_published_total (\d+)$/m.exec(metrics)?.[1]);
      assert.ok(published >= n, `published ${published} >= ${n}`);
      assert.match(metrics, /^hopgate_control_jetstream_backlog_events 0$/m);
      assert.match(metrics, /^hopgate_control_jetstream_delivery_seconds_count \d+$/m);
    });
  });
}

describe('a control plane closed while NATS is unreachable', () => {
  it('stops dialing NATS', { timeout: 30_000 }, async () => {
    const tdb = await sqliteDb();
    const state = tempDir();
    const port = await freePort();
    const cp = await startControlPlane({ db: tdb.spec, stateDir: state.path, port: 0, passwordCost: TEST_COST, jetstream: { url: `nats://127.0.0.1:${port}`, publishTimeoutMs: 1000 } });
    try {
      // Let it dial a few times (every 250 ms while NATS is down), then close it.
      await new Promise((r) => setTimeout(r, 600));
      await cp.close();
      const dials: Socket[] = [];
      const listener = createServer((c) => dials.push(c.on('error', () => undefined)));
      await new Promise<void>((r) => listener.listen(port, '127.0.0.1', r));
      // A live dial loop retries every 250 ms: 1.5 s is six chances to show up.
      await new Promise((r) => setTimeout(r, 1500));
      for (const d of dials) d.destroy();
      await new Promise((r) => listener.close(r));
      assert.equal(dials.length, 0, 'no connection to NATS after close');
    } finally {
      await tdb.cleanup();
      state.remove();
    }
  });
});

/** A NATS that answers slowly: every chunk from the server reaches the client `delayMs` late (order kept). */
async function slowProxy(targetPort: number, delayMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = tcpConnect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined).on('close', () => (sockets.delete(s), client.destroy(), upstream.destroy()));
    }
    client.pipe(upstream);
    upstream.on('data', (d: Buffer) => setTimeout(() => client.write(d), delayMs));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `nats://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

const pg = cases.find((c) => c.name === 'postgres')!;
describe('two replicas and a slow NATS (each ack 200 ms late)', { skip: pg.skip || natsSkip }, () => {
  it('no replica publishes what the other still holds: each event is published once', { timeout: 90_000 }, async () => {
    const tdb = await pg.make();
    const states = [tempDir(), tempDir()];
    const nats = await startNatsServer();
    const slow = await slowProxy(nats.port, 200);
    // A round of all 20 events would take 4 s at 200 ms an ack, past its lease of 3 s (3 publish timeouts).
    // (20, not 40: the lease is outlasted all the same, and the file waits 4 s less on slow acks.)
    const js = { url: slow.url, pollMs: 100, batch: 20, publishTimeoutMs: 1000, backoff: { baseMs: 100, maxMs: 500, jitter: 0.5 } };
    const cps: ControlPlane[] = [];
    try {
      for (const st of states) cps.push(await startControlPlane({ db: tdb.spec, stateDir: st.path, port: 0, passwordCost: TEST_COST, jetstream: js }));
      const c = await cps[0]!.store.createCustomer(CustomerCreate.parse({ login: 'js_slow' }), 'h', 'operator');
      for (let i = 0; i < 19; i++) await cps[0]!.store.updateCustomer(c.id, { maxConnections: i + 1 }, 'operator');
      const events = (await cps[0]!.store.outbox.list({ limit: 1000 })).length;
      assert.ok(events * 200 > 3 * js.publishTimeoutMs, `${events} events: a round of them outlasts the lease`);
      await eventually('every event acked', async () => (await cps[0]!.store.jetstream.backlog()) === 0, { timeoutMs: 60_000, everyMs: 100 });
      const published = async (cp: ControlPlane) => (await cp.metrics.jsPublished.get()).values[0]?.value ?? 0;
      const failures = async (cp: ControlPlane) => (await cp.metrics.jsFailures.get()).values[0]?.value ?? 0;
      assert.equal((await failures(cps[0]!)) + (await failures(cps[1]!)), 0, 'no publish failed (a timeout would explain a resend)');
      assert.equal((await published(cps[0]!)) + (await published(cps[1]!)), events, `${events} events, each published once by one replica`);
    } finally {
      for (const cp of cps) await cp.close();
      await slow.close();
      await nats.destroy();
      await tdb.cleanup();
      for (const st of states) st.remove();
    }
  });
});

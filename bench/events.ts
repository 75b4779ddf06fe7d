/**
 * Events to outside systems and change messages in (issue 16, docs/EVENTS.md):
 *
 *  - delivery latency, outbox write (the event's occurredAt) → a webhook receiver
 *    got it, and → a JetStream consumer got it, p50/p99, changes made at a steady pace;
 *  - loss and duplicates while the webhook receiver is down N s, and while
 *    nats-server is down N s, with changes made meanwhile: how many events never
 *    arrived (within a bound), how many arrived twice, how long after the receiver
 *    came back the last one arrived;
 *  - change messages in: publish → answer on the reply subject, p50/p99, next to
 *    the same change over REST.
 *
 * One process holds the control plane (SQLite by default), the webhook receiver
 * and the JetStream consumer; nats-server is a child (test/helpers/nats-server.ts).
 * Delivery settings are the product's defaults (webhook retries 1 s doubling).
 *
 *   npm run build && node dist/bench/events.js [--changes 200] [--outage-s 5] [--outage-changes 100]
 *                                              [--requests 200] [--runs 3] [--db postgres://…?schema=S]
 */
import { parseArgs } from 'node:util';
import { AckPolicy, connect, type NatsConnection } from 'nats';
import { startControlPlane, type ControlPlane } from '../src/control/control-plane.js';
import { startNatsServer, type NatsServer } from '../test/helpers/nats-server.js';
import { WebhookReceiver } from '../test/helpers/webhook-receiver.js';
import { Requester } from '../test/helpers/nats-requests.js';
import { tempDir } from '../test/helpers/control-fixtures.js';
import { eventually, sleep } from '../test/helpers/eventually.js';
import { cpuUs } from './proc-cpu.js';

const { values: opt } = parseArgs({
  options: {
    changes: { type: 'string', default: '200' },
    'outage-s': { type: 'string', default: '5' },
    'outage-changes': { type: 'string', default: '100' },
    requests: { type: 'string', default: '200' },
    runs: { type: 'string', default: '3' },
    db: { type: 'string' },
  },
});
const CHANGES = Math.min(5000, Number(opt.changes));
const OUTAGE_MS = Math.min(120, Number(opt['outage-s'])) * 1000;
const OUTAGE_CHANGES = Math.min(5000, Number(opt['outage-changes']));
const REQUESTS = Math.min(5000, Number(opt.requests));
const RUNS = Math.min(10, Number(opt.runs));
/** After an outage, events still missing this long after the receiver is back count as lost. */
const RECOVERY_BOUND_MS = 120_000;

const pct = (xs: number[], p: number): number => (xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!);
const median = (xs: number[]): number => pct(xs, 50);

interface Arrival {
  key: string;
  at: number;
}

/** Reads HOPGATE_EVENTS with a durable consumer of its own, across NATS outages. */
class EventReader {
  readonly seen: Arrival[] = [];
  private stopped = false;
  private loop: Promise<void> | undefined;
  constructor(private readonly url: string) {}

  start(): void {
    this.loop = (async () => {
      let nc: NatsConnection | undefined;
      while (!this.stopped) {
        try {
          nc ??= await connect({ servers: this.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
          const jsm = await nc.jetstreamManager();
          await jsm.consumers.add('HOPGATE_EVENTS', { durable_name: 'bench', ack_policy: AckPolicy.Explicit });
          const consumer = await nc.jetstream().consumers.get('HOPGATE_EVENTS', 'bench');
          while (!this.stopped) {
            for await (const m of await consumer.fetch({ max_messages: 256, expires: 1000 })) {
              this.seen.push({ key: m.headers?.get('Nats-Msg-Id') ?? '', at: Date.now() });
              m.ack();
            }
          }
        } catch {
          await sleep(200); // stream not there yet, or NATS down: try again (bounded by stop())
        }
      }
      await nc?.close();
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

interface PhaseResult {
  events: number;
  lost: number;
  duplicates: number;
  /** Steady: latency percentiles; outage: from the sink back to the last arrival. */
  p50Ms: number;
  p99Ms: number;
  recoveryMs: number;
}

function summarize(keys: Map<string, number>, arrivals: readonly Arrival[], backAt?: number): PhaseResult {
  const count = new Map<string, number>();
  const lat: number[] = [];
  let last = 0;
  for (const a of arrivals) {
    const occurred = keys.get(a.key);
    if (occurred === undefined) continue;
    const n = (count.get(a.key) ?? 0) + 1;
    count.set(a.key, n);
    if (n === 1) {
      lat.push(a.at - occurred);
      last = Math.max(last, a.at);
    }
  }
  let duplicates = 0;
  for (const n of count.values()) duplicates += n - 1;
  return { events: keys.size, lost: keys.size - count.size, duplicates, p50Ms: pct(lat, 50), p99Ms: pct(lat, 99), recoveryMs: backAt !== undefined ? last - backAt : NaN };
}

/** Each run its own PostgreSQL schema (`schema=S` becomes S_r<run>): no webhook or event of an earlier run. */
function dbOfRun(db: string, run: number): string {
  if (!/^postgres(ql)?:/.test(db)) return db;
  const u = new URL(db);
  u.searchParams.set('schema', `${u.searchParams.get('schema') ?? 'bench_events'}_r${run}_${process.pid}`);
  return u.toString();
}

interface RunResult {
  webhookSteady: PhaseResult;
  jetstreamSteady: PhaseResult;
  webhookOutage: PhaseResult;
  natsOutage: PhaseResult;
  cpuUsPerEvent: number;
  requestsIn: { p50Ms: number; p99Ms: number };
  rest: { p50Ms: number; p99Ms: number };
}

async function oneRun(run: number): Promise<RunResult> {
  const state = tempDir('hopgate-bench-events-');
  const nats: NatsServer = await startNatsServer();
  const rx = await WebhookReceiver.start();
  let cp: ControlPlane | undefined;
  const reader = new EventReader(nats.url);
  let nc: NatsConnection | undefined;
  try {
    cp = await startControlPlane({
      ...(opt.db ? { db: dbOfRun(opt.db, run) } : {}),
      stateDir: state.path,
      port: 0,
      passwordCost: { ln: 10, r: 8, p: 1 },
      jetstream: { url: nats.url },
      natsRequests: {},
    });
    const op = { authorization: `Bearer ${cp.token.token}`, 'content-type': 'application/json' };
    const api = async (method: string, path: string, body: unknown): Promise<any> => {
      const res = await fetch(cp!.url + path, { method, headers: op, body: JSON.stringify(body) });
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return res.json();
    };
    await api('POST', '/v1/webhooks', { url: rx.url() });
    const customer = (await api('POST', '/v1/customers', { login: `bench_${run}` })).customer as { id: string };
    reader.start();
    const hooks = (): Arrival[] => rx.accepted().map((r) => ({ key: (JSON.parse(r.body) as { idempotencyKey: string }).idempotencyKey, at: r.at }));
    let changeNo = 0;
    const change = () => api('PATCH', `/v1/customers/${customer.id}`, { maxConnections: ++changeNo });
    /** The events written since `afterId`: key → occurredAt. */
    const eventsAfter = async (afterId: number): Promise<{ keys: Map<string, number>; lastId: number }> => {
      const list = await cp!.store.outbox.list({ after: afterId, limit: 100_000 });
      return { keys: new Map(list.map((e) => [e.idempotencyKey, Date.parse(e.occurredAt)])), lastId: list.reduce((m, e) => Math.max(m, e.id), afterId) };
    };
    const allArrived = (keys: Map<string, number>, arrivals: () => Arrival[]) => {
      const got = new Set(arrivals().map((a) => a.key));
      return [...keys.keys()].every((k) => got.has(k));
    };
    const startId = (await eventsAfter(0)).lastId;
    // Both sinks caught up with the setup's events before measuring.
    await eventually('setup events delivered', async () => {
      const { keys } = await eventsAfter(0);
      return allArrived(keys, hooks) && allArrived(keys, () => reader.seen);
    }, { timeoutMs: 30_000, everyMs: 50 });

    // Steady: one change every 10 ms.
    const cpu0 = cpuUs([process.pid]);
    for (let i = 0; i < CHANGES; i++) {
      await change();
      await sleep(10);
    }
    // The changes' own cost and their delivery, not the bench's polling below.
    const cpuPerEvent = (cpuUs([process.pid]) - cpu0) / CHANGES;
    const steady = await eventsAfter(startId);
    await eventually('steady events delivered', () => allArrived(steady.keys, hooks) && allArrived(steady.keys, () => reader.seen), { timeoutMs: 60_000, everyMs: 20 });
    const webhookSteady = summarize(steady.keys, hooks());
    const jsSteady = summarize(steady.keys, reader.seen);

    // The webhook receiver down OUTAGE_MS while changes are made.
    const outage = async (down: () => Promise<void>, up: () => Promise<void>, arrivals: () => Arrival[], afterId: number) => {
      await down();
      const t0 = Date.now();
      for (let i = 0; i < OUTAGE_CHANGES; i++) {
        await change();
        await sleep(Math.max(0, t0 + ((i + 1) * OUTAGE_MS) / OUTAGE_CHANGES - Date.now()));
      }
      await sleep(Math.max(0, t0 + OUTAGE_MS - Date.now()));
      await up();
      const backAt = Date.now();
      const phase = await eventsAfter(afterId);
      await eventually('events after the outage', () => allArrived(phase.keys, arrivals), { timeoutMs: RECOVERY_BOUND_MS, everyMs: 50 }).catch(() => undefined);
      return { result: summarize(phase.keys, arrivals(), backAt), lastId: phase.lastId };
    };
    const w = await outage(() => rx.down(), () => rx.up(), hooks, steady.lastId);
    const n = await outage(() => nats.stop(), () => nats.start(), () => reader.seen, w.lastId);

    // Change messages in: publish → answer, one at a time; then the same change over REST.
    nc = await connect({ servers: nats.url });
    const rq = await Requester.open(nc);
    const viaNats: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const t = performance.now();
      const a = await rq.send('updateCustomer', { params: { id: customer.id }, body: { maxConnections: 10_000 + i } }, { authorization: op.authorization });
      if (a.status !== 200) throw new Error(`request answered ${a.status}`);
      viaNats.push(performance.now() - t);
    }
    const viaRest: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const t = performance.now();
      await change();
      viaRest.push(performance.now() - t);
    }
    return {
      webhookSteady,
      jetstreamSteady: jsSteady,
      cpuUsPerEvent: cpuPerEvent,
      webhookOutage: w.result,
      natsOutage: n.result,
      requestsIn: { p50Ms: median(viaNats), p99Ms: pct(viaNats, 99) },
      rest: { p50Ms: median(viaRest), p99Ms: pct(viaRest, 99) },
    };
  } finally {
    await reader.stop();
    await nc?.close();
    await cp?.close();
    await rx.close();
    await nats.destroy();
    state.remove();
  }
}

const runs: RunResult[] = [];
for (let r = 0; r < RUNS; r++) {
  const res = await oneRun(r);
  runs.push(res);
  process.stderr.write(`run ${r + 1}/${RUNS}: ${JSON.stringify(res)}\n`);
}
const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '–');
const med = (pick: (r: (typeof runs)[number]) => number): number => median(runs.map(pick));
const row = (name: string, key: 'webhookSteady' | 'jetstreamSteady' | 'webhookOutage' | 'natsOutage'): string => {
  const g = (k: keyof PhaseResult) => med((r) => r[key][k]);
  return `| ${name} | ${f(g('events'), 0)} | ${f(g('p50Ms'))} | ${f(g('p99Ms'))} | ${f(g('lost'), 0)} | ${f(g('duplicates'), 0)} | ${f(g('recoveryMs') / 1000, 2)} |`;
};
console.log(`medians of ${RUNS} runs; ${CHANGES} steady changes (one per 10 ms), outages of ${OUTAGE_MS / 1000} s with ${OUTAGE_CHANGES} changes each; db ${opt.db ? 'postgres' : 'sqlite'}\n`);
console.log('| phase | events | p50 ms | p99 ms | lost | duplicates | last arrival after the sink came back, s |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
console.log(row('webhook, steady', 'webhookSteady'));
console.log(row('JetStream, steady', 'jetstreamSteady'));
console.log(row('webhook receiver down', 'webhookOutage'));
console.log(row('nats-server down', 'natsOutage'));
console.log(`\nCPU of the bench process (control plane, webhook receiver, JetStream consumer) per steady change (REST PATCH, outbox, webhook delivery, JetStream publish, both receipts): ${f(med((r) => r.cpuUsPerEvent), 0)} µs`);
console.log(`change messages in (publish → answer): p50 ${f(med((r) => r.requestsIn.p50Ms), 2)} ms, p99 ${f(med((r) => r.requestsIn.p99Ms), 2)} ms; the same change over REST: p50 ${f(med((r) => r.rest.p50Ms), 2)} ms, p99 ${f(med((r) => r.rest.p99Ms), 2)} ms (${REQUESTS} each, one at a time)`);

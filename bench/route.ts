/**
 * Routing at scale (issue #4): 100,000 customers × 50 exits each, out of a
 * fleet of 5,000 exits in 50 countries. Measures the time per routing decision
 * (p50/p99, by kind), memory per customer, and the time to rebuild the
 * snapshot's indexes after one change (and after a full reload, for contrast).
 *
 *   npm run build && node --expose-gc dist/bench/route.js [--customers 100000] [--per 50] [--exits 5000] [--decisions 300000] [--shared]
 *
 * --shared: customers draw from 100 distinct exit lists (how pools are sold) instead of
 * each having a list of their own.
 */
import { parseArgs } from 'node:util';
import { IngressConfigSchema, type IngressConfig } from '../src/shared/schema/ingress-config.js';
import { compileSnapshot, type Snapshot } from '../src/ingress/config/snapshot.js';
import { selectExit, type RouteRequest } from '../src/ingress/route/select-exit.js';
import type { UsernameTags } from '../src/protocol/username/grammar.js';

const { values: opt } = parseArgs({
  options: {
    customers: { type: 'string', default: '100000' },
    per: { type: 'string', default: '50' },
    exits: { type: 'string', default: '5000' },
    decisions: { type: 'string', default: '300000' },
    shared: { type: 'boolean', default: false },
  },
});
const CUSTOMERS = Number(opt.customers);
const PER = Number(opt.per);
const EXITS = Number(opt.exits);
const DECISIONS = Number(opt.decisions);
const COUNTRIES = 50;
const BASE = 10_000;

let seed = 42;
const rand = (): number => {
  seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
  return seed / 2 ** 32;
};
const gc = (globalThis as { gc?: () => void }).gc;
const heap = (): number => {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
};
const country = (i: number): string => String.fromCharCode(97 + (i % 26), 97 + Math.floor(i / 26));
const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

function buildConfig(): IngressConfig {
  const exits = Array.from({ length: EXITS }, (_, i) => ({
    id: `x${i}`,
    kind: 'hopgate' as const,
    host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    port: 7001,
    egressIp: `100.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    country: country(i % COUNTRIES),
  }));
  const lists = opt.shared ? Array.from({ length: 100 }, () => pickList()) : undefined;
  function pickList(): string[] {
    const set = new Set<number>();
    while (set.size < PER) set.add(Math.floor(rand() * EXITS));
    return [...set].map((i) => `x${i}`);
  }
  const users = Array.from({ length: CUSTOMERS }, (_, i) => ({
    login: `c${i}`,
    passwordHash: '$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA',
    exits: lists ? lists[i % lists.length]! : pickList(),
  }));
  // Parse once (the validated object is what an ingress holds); the timing below starts after it.
  return IngressConfigSchema.parse({ listen: { ports: [BASE, BASE + 99] }, exits, users });
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function main(): void {
  const config = buildConfig();
  const before = heap();
  let t0 = process.hrtime.bigint();
  const snap = compileSnapshot(config, 1);
  const compileMs = ms(t0);
  const after = heap();
  const perCustomer = (after - before) / CUSTOMERS;

  // Decisions of every kind the precedence knows, over random customers.
  type Kind = 'random' | 'port' | 'country' | 'sticky' | 'exitip';
  const kinds: Kind[] = ['random', 'port', 'country', 'sticky', 'exitip'];
  const times: Record<Kind, Float64Array> = Object.fromEntries(kinds.map((k) => [k, new Float64Array(DECISIONS / kinds.length)])) as Record<Kind, Float64Array>;
  const all = new Float64Array(DECISIONS);
  const now = Date.now();
  let sink = 0;
  const requests: Array<[Kind, RouteRequest, Snapshot['usersByLogin'] extends ReadonlyMap<string, infer U> ? U : never]> = [];
  for (let i = 0; i < DECISIONS; i++) {
    const user = snap.usersByLogin.get(`c${Math.floor(rand() * CUSTOMERS)}`)!;
    const kind = kinds[i % kinds.length]!;
    let tags: UsernameTags = {};
    let port = BASE;
    const own = user.route.exits.at(Math.floor(rand() * PER))!;
    if (kind === 'port') port = BASE + 1 + Math.floor(rand() * PER);
    if (kind === 'country') tags = { country: own.place.country! };
    if (kind === 'sticky') tags = { session: `s${Math.floor(rand() * 1e6)}`, sessionMinutes: 10 };
    if (kind === 'exitip') tags = { exitIp: own.config.egressIp! };
    requests.push([kind, { login: user.login, tags, port, nowMs: now, defaultSessionMinutes: 10 }, user]);
  }
  const up = (): boolean => true;
  // warm-up, then measure
  for (let i = 0; i < Math.min(20_000, DECISIONS); i++) sink += selectExit(snap.exits, requests[i]![2].route, requests[i]![1], up)!.ref.ord;
  const idx: Record<Kind, number> = { random: 0, port: 0, country: 0, sticky: 0, exitip: 0 };
  t0 = process.hrtime.bigint();
  for (let i = 0; i < DECISIONS; i++) {
    const [kind, req, user] = requests[i]!;
    const a = process.hrtime.bigint();
    sink += selectExit(snap.exits, user.route, req, up)!.ref.ord;
    const d = Number(process.hrtime.bigint() - a) / 1000;
    all[i] = d;
    times[kind][idx[kind]++] = d;
  }
  const totalMs = ms(t0);

  // One change: a copy of the configuration with one customer's object replaced (what a control-plane delta produces).
  const changed: IngressConfig = { ...config, users: config.users.slice() };
  changed.users[123] = { ...changed.users[123]!, exits: changed.users[123]!.exits.slice().reverse() };
  const rebuild: number[] = [];
  for (let r = 0; r < 5; r++) {
    t0 = process.hrtime.bigint();
    compileSnapshot(changed, 2 + r, snap);
    rebuild.push(ms(t0));
  }
  const full: number[] = [];
  for (let r = 0; r < 3; r++) {
    t0 = process.hrtime.bigint();
    compileSnapshot(changed, 10 + r);
    full.push(ms(t0));
  }
  const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

  const out = [
    `customers ${CUSTOMERS}, exits per customer ${PER}, fleet ${EXITS} exits in ${COUNTRIES} countries${opt.shared ? ', 100 distinct lists shared' : ', every list distinct'}`,
    `node ${process.version}${gc ? '' : ' (run with --expose-gc for exact memory)'}`,
    '',
    '| measure | value |',
    '| --- | --- |',
    `| compile snapshot from scratch | ${compileMs.toFixed(0)} ms |`,
    `| heap per customer (compiled: user + route + exit list) | ${(perCustomer).toFixed(0)} B |`,
    `| rebuild after one customer changed (median of 5) | ${median(rebuild).toFixed(1)} ms |`,
    `| full rebuild (exits changed; median of 3) | ${median(full).toFixed(0)} ms |`,
    `| decisions | ${DECISIONS} in ${totalMs.toFixed(0)} ms (includes timer reads) |`,
    `| all decisions p50 / p99 | ${fmt(all)} |`,
    ...kinds.map((k) => `| ${k} p50 / p99 | ${fmt(times[k])} |`),
  ];
  console.log(out.join('\n'));
  if (sink === -1) console.log(sink);
}

function fmt(xs: Float64Array): string {
  const s = Float64Array.from(xs).sort();
  return `${percentile(s, 0.5).toFixed(2)} / ${percentile(s, 0.99).toFixed(2)} µs`;
}

main();

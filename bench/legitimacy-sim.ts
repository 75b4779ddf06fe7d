/**
 * Seeded simulator for source legitimacy across anycast ingresses (issue #7).
 * It drives the real modules — EvidenceCollector at each ingress, the
 * LegitimacyAnalysis of the control plane, a LegitimacyEnforcer per ingress —
 * through a synthetic world and prints what the issue's targets ask for.
 *
 *   npm run build && node dist/bench/legitimacy-sim.js [--seed 1] [--ingresses 8] [--quick] [--json]
 *
 * World: /16 blocks of /24 prefixes, each block homed at one ingress (weighted
 * sizes). Prefix kinds: single-ingress (some routed away from their block's
 * home), split across two ingresses (ECMP / multi-homing, 10–90 %), flapping
 * between two ingresses (period 20 min – 4 h), and new prefixes that appear
 * a few hours before the attacks (mostly inside known blocks, some in new
 * blocks). Legitimate load is diurnal (±50 %, a phase per block), rates per
 * prefix log-normal. Learning runs first on 5-minute reports (the counts are
 * the same, only coarser), then everything runs on 10-second reports with the
 * enforcers deciding every connection attempt, on a simulated clock.
 *
 * Attacks arrive at every live ingress alike (spoofed packets enter wherever
 * the attacker's machines are): uniform random sources; sources from prefixes
 * seen before; one spoofed victim /24; and a non-spoofed botnet whose hosts
 * reach their natural ingress (the method does not claim to stop it: its
 * sources are real and route normally — the figure is printed for honesty).
 *
 * Network events: an unannounced route change under attack (part of one
 * ingress's catchment moves), an announced ingress outage and its return, an
 * unannounced crash. Suspension messages reach the ingresses over a modelled
 * stream with 20–300 ms latency.
 *
 * Over 500 lines on purpose: one seeded script read top to bottom (world,
 * learning, attacks, report) whose state is module-level typed arrays;
 * splitting it would scatter one narrative without making any part reusable.
 */
import { parseArgs } from 'node:util';
import { LegitimacyAnalysis, type AnalysisInit } from '../src/legitimacy/analysis.js';
import { EvidenceCollector } from '../src/legitimacy/evidence.js';
import { LegitimacyEnforcer } from '../src/legitimacy/enforcer.js';
import type { Outbound } from '../src/legitimacy/messages.js';
import { formatV4 } from '../src/legitimacy/prefix.js';
import { CidrTable } from '../src/shared/cidr.js';

const { values: opt } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    ingresses: { type: 'string', default: '8' },
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    threshold: { type: 'string' },
    'min-evidence': { type: 'string' },
    'half-life-h': { type: 'string' },
    'no-roc': { type: 'boolean', default: false },
    'no-bench': { type: 'boolean', default: false },
  },
});

const QUICK = opt.quick;
const SEED = Number(opt.seed);
const N = Number(opt.ingresses);
const BLOCKS = QUICK ? 300 : 1000;
const LEGIT_RATE = 150 * N; // flows/s over the group, on average
const ATTACK_RATE = 10 * LEGIT_RATE; // spoofed attempts/s over the group
const BOTS = 2000;
const BOT_RATE = ATTACK_RATE; // non-spoofed botnet attempts/s over the group
const WARMUP_H = QUICK ? 18 : 36;
const ATTACK_MIN = QUICK ? 2 : 5;
const CALM_MIN = 3;
const STEP = 10_000; // ms, the reporting interval
const COARSE = 300_000; // ms, report interval while learning
const DAY = 86_400_000;
const H = 3600_000;

const analysisInit: AnalysisInit = {
  group: 'anycast-1',
  ingresses: Array.from({ length: N }, (_, i) => `ing${i}`),
  intervalMs: STEP,
  silentAfterMs: 3 * STEP,
  ...(opt.threshold ? { threshold: Number(opt.threshold) } : {}),
  ...(opt['min-evidence'] ? { minEvidence: Number(opt['min-evidence']) } : {}),
  ...(opt['half-life-h'] ? { halfLifeMs: Number(opt['half-life-h']) * H } : {}),
};

// ------------------------------------------------------------------ seeded randomness

class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 20; i++) this.next();
  }
  /** sfc32 */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  u32(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }
  normal(): number {
    return Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next());
  }
  poisson(l: number): number {
    if (l <= 0) return 0;
    if (l > 40) return Math.max(0, Math.round(l + Math.sqrt(l) * this.normal()));
    const L = Math.exp(-l);
    let k = 0;
    let p = 1;
    do {
      k++;
      p *= this.next();
    } while (p > L);
    return k - 1;
  }
}

const rng = new Rng(SEED);

// ------------------------------------------------------------------ the world

const SINGLE = 0;
const SPLIT = 1;
const FLAP = 2;
const NEW = 3;
const KIND_NAMES = ['single', 'split', 'flapping', 'new'];

interface Block {
  net16: number;
  home: number;
  phase: number;
  backup: Uint8Array;
}

const blocks: Block[] = [];
const used16 = new Set<number>();
function fresh16(): number {
  for (;;) {
    const a = 1 + rng.int(222);
    if (a === 10 || a === 127 || a === 100 || a === 172 || a === 192) continue;
    const n = (a << 8) | rng.int(256);
    if (!used16.has(n)) {
      used16.add(n);
      return n;
    }
  }
}
// unequal ingress sizes
const ingWeight = Array.from({ length: N }, () => 0.5 + rng.next());
const ingWeightSum = ingWeight.reduce((s, x) => s + x, 0);
function weightedIngress(): number {
  let u = rng.next() * ingWeightSum;
  for (let i = 0; i < N; i++) if ((u -= ingWeight[i]!) < 0) return i;
  return N - 1;
}
function otherIngress(not: number): number {
  const k = rng.int(N - 1);
  return k >= not ? k + 1 : k;
}
function newBlock(): number {
  const home = weightedIngress();
  const backup = new Uint8Array(N);
  for (let i = 0; i < N; i++) backup[i] = otherIngress(i);
  blocks.push({ net16: fresh16(), home, phase: rng.next(), backup });
  return blocks.length - 1;
}
for (let b = 0; b < BLOCKS; b++) newBlock();

const cap = BLOCKS * 40;
const pNet = new Uint32Array(cap);
const pKey: string[] = [];
const pBlock = new Int32Array(cap);
const pKind = new Uint8Array(cap);
const pA = new Uint8Array(cap);
const pB = new Uint8Array(cap);
const pFrac = new Float64Array(cap);
const pPeriod = new Float64Array(cap);
const pPhase = new Float64Array(cap);
const pRate = new Float64Array(cap);
const pBorn = new Float64Array(cap);
let P = 0;
const used24 = new Set<number>();

const T_FINE = WARMUP_H * H; // learning on coarse reports until here

function addPrefix(block: number, kind: number, born: number): number {
  const bl = blocks[block]!;
  let c: number;
  do c = rng.int(256);
  while (used24.has((bl.net16 << 8) | c));
  used24.add((bl.net16 << 8) | c);
  const p = P++;
  pNet[p] = ((bl.net16 << 16) | (c << 8)) >>> 0;
  pKey[p] = `${formatV4(pNet[p])}/24`;
  pBlock[p] = block;
  pKind[p] = kind;
  // 90 % of a block's prefixes follow its home; the others are routed elsewhere (more-specifics)
  pA[p] = rng.next() < 0.9 ? bl.home : otherIngress(bl.home);
  pB[p] = otherIngress(pA[p]);
  pFrac[p] = 0.5 + 0.48 * Math.pow(2 * rng.next() - 1, 3); // mostly even, tails to 2 / 98 %
  pPeriod[p] = (20 + rng.next() * 220) * 60_000;
  pPhase[p] = rng.next() * pPeriod[p];
  pRate[p] = Math.exp(rng.normal() * 1.2);
  pBorn[p] = born;
  return p;
}

for (let b = 0; b < BLOCKS; b++) {
  const n = 5 + rng.int(30);
  for (let k = 0; k < n; k++) {
    const u = rng.next();
    const kind = u < 0.85 ? SINGLE : u < 0.93 ? SPLIT : u < 0.97 ? FLAP : NEW;
    // new prefixes appear in the 6 hours before the fine phase (and during it)
    addPrefix(b, kind, kind === NEW ? T_FINE - 6 * H + rng.next() * 8 * H : 0);
  }
}
// some new prefixes in brand-new blocks
for (let k = 0; k < BLOCKS * 0.3; k++) {
  const b = newBlock();
  addPrefix(b, NEW, T_FINE - 6 * H + rng.next() * 8 * H);
}
// scale rates to the group's legitimate load
{
  let s = 0;
  for (let p = 0; p < P; p++) s += pRate[p]!;
  for (let p = 0; p < P; p++) pRate[p] = (pRate[p]! * LEGIT_RATE) / s;
}

// routing state changed by events
const down = new Uint8Array(N);
/** block → [from, to]: a route change */
const moved = new Map<number, [number, number]>();
const movedPrefix = new Uint8Array(cap);

function baseIngress(p: number, t: number, u: number): number {
  switch (pKind[p]) {
    case SPLIT:
      return u < pFrac[p]! ? pA[p]! : pB[p]!;
    case FLAP:
      return Math.floor((t + pPhase[p]!) / pPeriod[p]!) % 2 === 0 ? pA[p]! : pB[p]!;
    default:
      return pA[p]!;
  }
}

function ingressOf(p: number, t: number, u: number): number {
  let i = baseIngress(p, t, u);
  const m = moved.get(pBlock[p]!);
  if (m && i === m[0]) i = m[1];
  if (down[i]) i = blocks[pBlock[p]!]!.backup[i]!;
  if (down[i]) for (let k = 0; k < N; k++) if (!down[(i + k) % N]) return (i + k) % N;
  return i;
}

function rateOf(p: number, t: number): number {
  if (t < pBorn[p]!) return 0;
  return pRate[p]! * (1 + 0.5 * Math.sin((2 * Math.PI * t) / DAY + 2 * Math.PI * blocks[pBlock[p]!]!.phase));
}

/** Per ingress: prefixes and cumulative weights, for sampling arrivals. */
interface Catchment {
  pids: Int32Array;
  cum: Float64Array;
  n: number;
  total: number;
}
function catchments(t: number): Catchment[] {
  const c: Catchment[] = Array.from({ length: N }, () => ({ pids: new Int32Array(P * 2), cum: new Float64Array(P * 2), n: 0, total: 0 }));
  const add = (i: number, p: number, w: number) => {
    const x = c[i]!;
    if (w <= 0) return;
    x.total += w;
    x.pids[x.n] = p;
    x.cum[x.n++] = x.total;
  };
  for (let p = 0; p < P; p++) {
    const r = rateOf(p, t);
    if (r === 0) continue;
    if (pKind[p] === SPLIT) {
      const a = ingressOf(p, t, 0);
      const b = ingressOf(p, t, 0.9999999);
      add(a, p, r * pFrac[p]!);
      add(b, p, r * (1 - pFrac[p]!));
    } else add(ingressOf(p, t, 0), p, r);
  }
  return c;
}
function sample(c: Catchment): number {
  const u = rng.next() * c.total;
  let lo = 0;
  let hi = c.n - 1;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (c.cum[m]! < u) lo = m + 1;
    else hi = m;
  }
  return c.pids[lo]!;
}

// ------------------------------------------------------------------ the system under test

let now = 0;
const analysis = new LegitimacyAnalysis(analysisInit);
const collectors: EvidenceCollector[] = [];
const enforcers: LegitimacyEnforcer[] = [];
for (let i = 0; i < N; i++) {
  const c = new EvidenceCollector({ ingressId: `ing${i}`, epoch: 1, capacity: 8192, now: () => now });
  collectors.push(c);
  enforcers.push(new LegitimacyEnforcer({ ingressId: `ing${i}`, group: 'anycast-1', now: () => now, onAttackChange: (a) => (c.paused = a) }));
}

/** The config stream: per-ingress queues with latency. */
const queue: Array<Array<{ at: number; out: Outbound }>> = Array.from({ length: N }, () => []);
/** When each ingress applied a suspended rule set (for "time to suspend"). */
const suspendedAt = new Float64Array(N).fill(Number.NaN);
function send(outs: Outbound[], at: number): void {
  for (const o of outs) {
    const i = Number(o.to.slice(3));
    queue[i]!.push({ at: at + 20 + rng.int(280), out: o });
  }
}
function deliver(i: number, t: number): void {
  const q = queue[i]!;
  while (q.length && q[0]!.at <= t) {
    const { at, out } = q.shift()!;
    if (down[i]) continue;
    const ack = enforcers[i]!.apply(out.msg);
    analysis.ack(ack);
    if (out.msg.type === 'legitimacy.rules' && out.msg.suspended && Number.isNaN(suspendedAt[i]!)) suspendedAt[i] = at;
  }
}

// ------------------------------------------------------------------ accounting

interface Tally {
  spoof: [number, number];
  bot: [number, number];
  legit: Array<[number, number]>; // per kind: [attempts, limited]
  moved: [number, number];
}
const tallies = new Map<string, Tally>();
let window: Tally | undefined;
function tally(name: string): Tally {
  let t = tallies.get(name);
  if (!t) tallies.set(name, (t = { spoof: [0, 0], bot: [0, 0], legit: [0, 1, 2, 3].map(() => [0, 0] as [number, number]), moved: [0, 0] }));
  return t;
}
const roundMs: number[] = [];

// ------------------------------------------------------------------ stepping

type Attack = { kind: 'uniform' | 'seen' | 'victim' | 'botnet' } | undefined;
let attack: Attack;
let seenPrefixes: Int32Array = new Int32Array(0);
let victim = -1;
const bots: Array<{ v: number; ing: number; key: string }> = [];

function makeBots(): void {
  for (let k = 0; k < BOTS; k++) {
    if (rng.next() < 0.5) {
      const p = rng.int(P);
      const v = (pNet[p]! | (1 + rng.int(254))) >>> 0;
      bots.push({ v, ing: ingressOf(p, T_FINE, rng.next()), key: pKey[p]! });
    } else {
      const v = rng.u32();
      bots.push({ v, ing: rng.int(N), key: `${formatV4((v & 0xffffff00) >>> 0)}/24` });
    }
  }
}

function spoofSource(): number {
  switch (attack?.kind) {
    case 'seen': {
      const p = seenPrefixes[rng.int(seenPrefixes.length)]!;
      return (pNet[p]! | rng.int(256)) >>> 0;
    }
    case 'victim':
      return (pNet[victim]! | rng.int(256)) >>> 0;
    default:
      return rng.u32();
  }
}

/** Learning on coarse reports: counts only, no enforcement. */
function coarseStep(t0: number): void {
  const t = t0 + COARSE;
  for (let p = 0; p < P; p++) {
    const r = rateOf(p, t0 + COARSE / 2);
    if (r === 0) continue;
    const secs = COARSE / 1000;
    if (pKind[p] === SPLIT) {
      const a = ingressOf(p, t0, 0);
      const b = ingressOf(p, t0, 0.9999999);
      const na = rng.poisson(r * pFrac[p]! * secs);
      const nb = rng.poisson(r * (1 - pFrac[p]!) * secs);
      if (na) collectors[a]!.recordPrefix(pKey[p]!, na);
      if (nb) collectors[b]!.recordPrefix(pKey[p]!, nb);
    } else {
      const n = rng.poisson(r * secs);
      if (n) collectors[ingressOf(p, t0 + COARSE / 2, 0)]!.recordPrefix(pKey[p]!, n);
    }
  }
  now = t;
  for (let i = 0; i < N; i++) {
    const rep = collectors[i]!.cut(t);
    const res = analysis.ingest(rep, t);
    collectors[i]!.ack(rep.seq);
    send(res.messages, t);
  }
  const r = analysis.round(t);
  send(r.messages, t);
  for (let i = 0; i < N; i++) deliver(i, t);
}

let shiftDetectedAt = Number.NaN;
/** A routing change that takes effect in the middle of a step. */
let pending: { at: number; apply: () => void } | undefined;

/** One reporting interval with every attempt through the enforcers. */
function fineStep(t0: number): void {
  const cat = catchments(t0 + STEP / 2);
  let catAfter = cat;
  let changeAt = Infinity;
  if (pending && pending.at < t0 + STEP) {
    changeAt = pending.at;
    pending.apply();
    pending = undefined;
    catAfter = catchments(t0 + STEP / 2);
  }
  const alive: number[] = [];
  for (let i = 0; i < N; i++) if (!down[i]) alive.push(i);
  for (const i of alive) {
    const e = enforcers[i]!;
    const col = collectors[i]!;
    const before = Math.min(STEP, Math.max(0, changeAt - t0));
    const nL = rng.poisson((cat[i]!.total * before) / 1000) + rng.poisson((catAfter[i]!.total * (STEP - before)) / 1000);
    const nA = attack && attack.kind !== 'botnet' ? rng.poisson((ATTACK_RATE / alive.length) * (STEP / 1000)) : 0;
    const myBots = attack?.kind === 'botnet' ? bots.filter((b) => (down[b.ing] ? alive[0] : b.ing) === i) : [];
    const nB = myBots.length ? rng.poisson((BOT_RATE / BOTS) * myBots.length * (STEP / 1000)) : 0;
    let rl = nL;
    let ra = nA;
    let rb = nB;
    const m = nL + nA + nB;
    for (let k = 0; k < m; k++) {
      now = t0 + Math.floor(((k + 0.5) * STEP) / m);
      if (queue[i]!.length) deliver(i, now);
      const u = rng.next() * (rl + ra + rb);
      if (u < rl) {
        rl--;
        const p = sample(now < changeAt ? cat[i]! : catAfter[i]!);
        const v = e.admitV4('conn', (pNet[p]! | 7) >>> 0);
        if (window) {
          const lt = window.legit[pKind[p]!]!;
          lt[0]++;
          if (!v.allow) lt[1]++;
          if (movedPrefix[p]) {
            window.moved[0]++;
            if (!v.allow) window.moved[1]++;
          }
        }
        if (v.allow) col.recordPrefix(pKey[p]!); // a completed connection: evidence
      } else if (u < rl + ra) {
        ra--;
        const v = e.admitV4('conn', spoofSource());
        if (window) {
          window.spoof[0]++;
          if (!v.allow) window.spoof[1]++;
        }
        // a spoofed SYN never completes: no evidence
      } else {
        rb--;
        const b = myBots[rng.int(myBots.length)]!;
        const v = e.admitV4('conn', b.v);
        if (window) {
          window.bot[0]++;
          if (!v.allow) window.bot[1]++;
        }
        if (v.allow) col.recordPrefix(b.key); // real hosts complete the handshake
      }
    }
    if (m === 0) {
      now = t0 + STEP;
      deliver(i, now);
    }
  }
  const t = t0 + STEP;
  now = t;
  for (const i of alive) {
    const rep = collectors[i]!.cut(t);
    const res = analysis.ingest(rep, t);
    collectors[i]!.ack(rep.seq);
    if (res.shift && Number.isNaN(shiftDetectedAt)) shiftDetectedAt = t;
    send(res.messages, t);
  }
  const r = analysis.round(t);
  roundMs.push(r.ms);
  send(r.messages, t);
  for (const i of alive) deliver(i, t);
}

function runFine(from: number, ms: number): number {
  let t = from;
  for (; t < from + ms; t += STEP) fineStep(t);
  return t;
}

function runUntilActive(from: number, maxMs: number): { t: number; ok: boolean } {
  let t = from;
  while (analysis.mode !== 'active' && t < from + maxMs) {
    fineStep(t);
    t += STEP;
  }
  return { t, ok: analysis.mode === 'active' };
}

function pct(a: number, b: number, digits = 2): string {
  return b === 0 ? '–' : `${((100 * a) / b).toFixed(digits)} %`;
}

// ------------------------------------------------------------------ run

const wall0 = performance.now();
const out: string[] = [];
const log = (s = '') => {
  out.push(s);
  if (!opt.json) console.log(s);
};
const results: Record<string, unknown> = {};

const ao = analysis.opts;
log(`# legitimacy simulator — seed ${SEED}, ${N} ingresses${QUICK ? ', --quick' : ''}`);
log();
log(`world: ${blocks.length} /16 blocks, ${P} /24 prefixes (${[0, 1, 2, 3].map((k) => `${KIND_NAMES[k]} ${countKind(k)}`).join(', ')}); legitimate load ≈ ${LEGIT_RATE}/s (diurnal ±50 %), spoofed floods ${ATTACK_RATE}/s, botnet ${BOTS} hosts ${BOT_RATE}/s`);
log(`analysis: half-life ${ao.halfLifeMs / H} h, threshold ${ao.threshold}, min evidence ${ao.minEvidence}, α ${ao.alpha}, shift ≥ ${ao.shift.minShare * 100} % and ≥ ${ao.shift.factor}× usual, ${ao.shift.minFlows} flows; reports every ${STEP / 1000} s; rules resume after ${ao.suspend.calmReports} calm reports and ≥ ${ao.suspend.minMs / 1000} s`);
log(`learning: ${WARMUP_H} h on ${COARSE / 60000}-min reports, then ${STEP / 1000}-s reports with enforcement`);
function countKind(k: number): number {
  let n = 0;
  for (let p = 0; p < P; p++) if (pKind[p] === k) n++;
  return n;
}

// 1. learning
for (let t = 0; t < T_FINE; t += COARSE) coarseStep(t);
let t = T_FINE;
// pre-roll: the enforcers learn their baselines (attack detector warm-up)
t = runFine(t, 3 * 60_000);
log(`after learning: mode ${analysis.mode}, ${analysis.prefixCount} prefixes, ${analysis.rowCount} rows; rule entries per ingress ${Object.values(analysis.round(t).ruleEntries).join(' ')}`);
log();

// seen prefixes (for the second attack) = prefixes with traffic so far; the victim = a busy single-ingress /24
{
  const s: number[] = [];
  let best = -1;
  for (let p = 0; p < P; p++) {
    if (pBorn[p]! < t && analysis.evidence(pKey[p]!) > 0) s.push(p);
    if (pKind[p] === SINGLE && (best < 0 || pRate[p]! > pRate[best]!)) best = p;
  }
  seenPrefixes = Int32Array.from(s);
  victim = best;
}
makeBots();

// 2. ROC over threshold × minimum evidence, on the state learned so far
if (!opt['no-roc']) roc(t);

// 3. the four attacks
const ATTACKS = ['uniform', 'seen', 'victim', 'botnet'] as const;
const suspensionsDuring: Record<string, string> = {};
for (const kind of ATTACKS) {
  attack = { kind };
  window = tally(kind);
  const susp0 = analysis.stats.suspensions;
  t = runFine(t, ATTACK_MIN * 60_000);
  suspensionsDuring[kind] = analysis.stats.suspensions - susp0 ? `${analysis.stats.suspensions - susp0} (${analysis.reason || 'resumed'})` : '0';
  attack = undefined;
  window = undefined;
  t = runFine(t, CALM_MIN * 60_000);
}

// 4. route change during an attack (not announced): 30 % of one ingress's block traffic moves
const routeChange: Record<string, unknown> = {};
{
  attack = { kind: 'seen' };
  window = tally('before-change');
  t = runFine(t, 60_000);
  const from = 0;
  const to = 1;
  const cat = catchments(t);
  const homeBlocks = blocks.map((b, k) => [b, k] as const).filter(([b]) => b.home === from);
  let movedW = 0;
  const target = 0.3 * cat[from]!.total;
  const movedBlocks: number[] = [];
  for (const [, k] of homeBlocks) {
    if (movedW >= target) break;
    movedBlocks.push(k);
    for (let p = 0; p < P; p++) {
      if (pBlock[p] !== k || pA[p] !== from) continue;
      movedPrefix[p] = 1;
      movedW += rateOf(p, t);
    }
  }
  const tChange = t + 4_000; // in the middle of a reporting interval
  pending = { at: tChange, apply: () => movedBlocks.forEach((k) => moved.set(k, [from, to])) };
  suspendedAt.fill(Number.NaN);
  shiftDetectedAt = Number.NaN;
  window = tally('route-change');
  t = runFine(t, 5 * 60_000);
  attack = undefined;
  window = undefined;
  const lastSuspend = Math.max(...[...suspendedAt].filter((x) => !Number.isNaN(x)));
  routeChange.share = movedW / cat[from]!.total;
  routeChange.detectS = (shiftDetectedAt - tChange) / 1000;
  routeChange.detectIntervals = Math.ceil((shiftDetectedAt - tChange) / STEP);
  routeChange.suspendS = (lastSuspend - tChange) / 1000;
  const ra = runUntilActive(t, 4 * H);
  routeChange.reconvergeMin = (ra.t - tChange) / 60_000;
  routeChange.reconverged = ra.ok;
  t = ra.t;
}

// 5. announced outage of one ingress, and its return
const outage: Record<string, unknown> = {};
{
  const X = 2;
  suspendedAt.fill(Number.NaN);
  const te = t + 3_000;
  send(analysis.event({ type: 'ingress-down', ingressId: `ing${X}`, reason: 'maintenance' }, te), te);
  down[X] = 1; // routes withdrawn: its catchment goes to the neighbours
  t = runFine(t, STEP);
  const live = [...suspendedAt].filter((x, i) => !down[i] && !Number.isNaN(x));
  outage.downSuspendS = (Math.max(...live) - te) / 1000;
  outage.downSuspendedIngresses = `${live.length}/${N - 1}`;
  let ra = runUntilActive(t, 4 * H);
  outage.downReconvergeMin = (ra.t - te) / 60_000;
  outage.downReconverged = ra.ok;
  t = ra.t;
  suspendedAt.fill(Number.NaN);
  const tu = t + 3_000;
  down[X] = 0;
  send(analysis.event({ type: 'ingress-up', ingressId: `ing${X}` }, tu), tu);
  t = runFine(t, STEP);
  outage.upSuspendS = (Math.max(...[...suspendedAt].filter((x) => !Number.isNaN(x))) - tu) / 1000;
  ra = runUntilActive(t, 4 * H);
  outage.upReconvergeMin = (ra.t - tu) / 60_000;
  outage.upReconverged = ra.ok;
  t = ra.t;
}

// 6. unannounced crash: an ingress stops; detected from silence or from the shift at its neighbours
const crash: Record<string, unknown> = {};
{
  const Y = 3;
  suspendedAt.fill(Number.NaN);
  shiftDetectedAt = Number.NaN;
  const tc = t;
  down[Y] = 1;
  let k = 0;
  while (analysis.mode === 'active' && k++ < 30) t = runFine(t, STEP);
  t = runFine(t, STEP); // let the messages land
  const live = [...suspendedAt].filter((x, i) => !down[i] && !Number.isNaN(x));
  crash.reason = analysis.reason;
  crash.suspendS = (Math.max(...live) - tc) / 1000;
  crash.suspendIntervals = Math.ceil((Math.max(...live) - tc) / STEP);
  const ra = runUntilActive(t, 4 * H);
  crash.reconvergeMin = (ra.t - tc) / 60_000;
  crash.reconverged = ra.ok;
  t = ra.t;
  down[Y] = 0;
}

// ------------------------------------------------------------------ report

log('## Attacks (8 ingresses, defaults)');
log();
log('| attack | attempts | limited | legit wrongly limited: single | split | flapping | new |');
log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const kind of ATTACKS) {
  const x = tally(kind);
  const src = kind === 'botnet' ? x.bot : x.spoof;
  const l = x.legit;
  log(`| ${kind === 'botnet' ? 'botnet (not spoofed; not claimed)' : `spoofed: ${kind}`} | ${src[0]} | ${pct(src[1], src[0], 1)} | ${pct(l[0]![1], l[0]![0], 3)} | ${pct(l[1]![1], l[1]![0], 3)} | ${pct(l[2]![1], l[2]![0], 2)} | ${pct(l[3]![1], l[3]![0], 1)} |`);
  if (suspensionsDuring[kind] !== "0") log(`  ↳ suspensions during the ${kind} attack: ${suspensionsDuring[kind]}`);
  results[kind] = { suspensions: suspensionsDuring[kind], attempts: src[0], limitedShare: src[1] / src[0], legit: Object.fromEntries(l.map((v, k) => [KIND_NAMES[k], v[0] ? v[1] / v[0] : null])) };
}
{
  const x = tally('route-change');
  const l = x.legit;
  const all = l.reduce((a, v) => [a[0] + v[0], a[1] + v[1]], [0, 0]);
  log(`| seen-prefix flood + route change | ${x.spoof[0]} | ${pct(x.spoof[1], x.spoof[0], 1)} | ${pct(l[0]![1], l[0]![0], 3)} | ${pct(l[1]![1], l[1]![0], 3)} | ${pct(l[2]![1], l[2]![0], 2)} | ${pct(l[3]![1], l[3]![0], 1)} |`);
  log();
  log(`route change under attack: ${((routeChange.share as number) * 100).toFixed(0)} % of ing0's traffic moves to ing1 (not announced), 5 min window: all legitimate traffic wrongly limited ${pct(all[1], all[0], 3)}, the moved clients ${pct(x.moved[1], x.moved[0], 2)}`);
  results['route-change'] = { ...routeChange, legitAll: all[1] / all[0], movedClients: x.moved[0] ? x.moved[1] / x.moved[0] : null };
}
log();
log('## Network events');
log();
log('| event | time to suspend on every live ingress | re-converged (rules back) after |');
log('| --- | ---: | ---: |');
log(`| route change (detected shift) | ${(routeChange.detectS as number).toFixed(0)} s to detect = ${String(routeChange.detectIntervals)} interval(s); all suspended at +${(routeChange.suspendS as number).toFixed(1)} s | ${(routeChange.reconvergeMin as number).toFixed(1)} min${routeChange.reconverged ? '' : ' (not yet)'} |`);
log(`| ingress down (announced) | ${(outage.downSuspendS as number).toFixed(2)} s (${String(outage.downSuspendedIngresses)}) | ${(outage.downReconvergeMin as number).toFixed(1)} min${outage.downReconverged ? '' : ' (not yet)'} |`);
log(`| ingress back (announced) | ${(outage.upSuspendS as number).toFixed(2)} s | ${(outage.upReconvergeMin as number).toFixed(1)} min${outage.upReconverged ? '' : ' (not yet)'} |`);
log(`| ingress crash (not announced) | ${(crash.suspendS as number).toFixed(1)} s = ${String(crash.suspendIntervals)} interval(s) — ${String(crash.reason).split(':')[0]} | ${(crash.reconvergeMin as number).toFixed(1)} min${crash.reconverged ? '' : ' (not yet)'} |`);
results.outage = outage;
results.crash = crash;
log();
roundMs.sort((a, b) => a - b);
const ruleEntries = Object.values(analysis.round(t).ruleEntries);
log(`## Cost`);
log();
log(`rules per ingress: ${Math.min(...ruleEntries)}–${Math.max(...ruleEntries)} CIDRs (${analysis.prefixCount} prefixes learned); analysis round over ${analysis.rowCount} rows: median ${roundMs[roundMs.length >> 1]!.toFixed(1)} ms, max ${roundMs[roundMs.length - 1]!.toFixed(1)} ms`);
results.rules = { min: Math.min(...ruleEntries), max: Math.max(...ruleEntries), roundMedianMs: roundMs[roundMs.length >> 1], rows: analysis.rowCount };
if (!opt['no-bench']) bigRound();
log();
log(`simulated ${((t - 0) / H).toFixed(1)} h in ${((performance.now() - wall0) / 1000).toFixed(1)} s`);
if (opt.json) console.log(JSON.stringify(results, null, 1));

// ------------------------------------------------------------------ ROC

function roc(at: number): void {
  const ths = [0.01, 0.02, 0.05, 0.1, 0.2];
  const mins = [2, 5, 10, 20, 50, 100];
  const cat = catchments(at);
  const S = QUICK ? 40_000 : 100_000;
  // legitimate attempts as they arrive now, and spoofed ones at random ingresses
  const lp = new Int32Array(S);
  const li = new Int32Array(S);
  let tot = 0;
  for (let i = 0; i < N; i++) tot += cat[i]!.total;
  for (let k = 0; k < S; k++) {
    let u = rng.next() * tot;
    let i = 0;
    while (i < N - 1 && (u -= cat[i]!.total) >= 0) i++;
    li[k] = i;
    lp[k] = sample(cat[i]!);
  }
  const us = Uint32Array.from({ length: S }, () => rng.u32());
  const ss = Uint32Array.from({ length: S }, () => (pNet[seenPrefixes[rng.int(seenPrefixes.length)]!]! | rng.int(256)) >>> 0);
  const si = Int32Array.from({ length: S }, () => rng.int(N));
  log('## ROC: share classified limitable (unlikely, unlikely-via-parent or unknown) — an upper bound on what a flood gets limited');
  log();
  log('| threshold | min evidence | uniform spoof | seen-prefix spoof | legit single | split | flapping | new |');
  log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const rows: unknown[] = [];
  for (const th of ths) {
    for (const me of mins) {
      const lists = analysis.rulesFor({ threshold: th, minEvidence: me, alpha: ao.alpha });
      const m = lists.map((l) => {
        const x = new CidrTable<number>();
        for (const c of l.expected) x.add(c, 0);
        for (const c of l.unlikely) x.add(c, 1);
        for (const c of l.unlikelyViaParent) x.add(c, 1);
        return x;
      });
      const lim = (i: number, v: number) => (m[i]!.lookupV4(v) ?? 1) !== 0;
      let su = 0;
      let sse = 0;
      const lk = [0, 0, 0, 0];
      const ln = [0, 0, 0, 0];
      for (let k = 0; k < S; k++) {
        if (lim(si[k]!, us[k]!)) su++;
        if (lim(si[k]!, ss[k]!)) sse++;
        const p = lp[k]!;
        ln[pKind[p]!]!++;
        if (lim(li[k]!, (pNet[p]! | 7) >>> 0)) lk[pKind[p]!]!++;
      }
      const mark = th === ao.threshold && me === ao.minEvidence ? ' ◀ default' : '';
      log(`| ${th} | ${me} | ${pct(su, S, 1)} | ${pct(sse, S, 1)} | ${pct(lk[0]!, ln[0]!, 3)} | ${pct(lk[1]!, ln[1]!, 3)} | ${pct(lk[2]!, ln[2]!, 2)} | ${pct(lk[3]!, ln[3]!, 1)} |${mark}`);
      rows.push({ threshold: th, minEvidence: me, uniform: su / S, seen: sse / S, legit: lk.map((x, k) => x / ln[k]!) });
    }
  }
  results.roc = rows;
  log();
}

// ------------------------------------------------------------------ 10^6 rows

function bigRound(): void {
  const a = new LegitimacyAnalysis({ group: 'bench', ingresses: Array.from({ length: N }, (_, i) => `i${i}`), warmupMs: 0 });
  const r2 = new Rng(SEED + 1);
  const per: Array<Array<[string, number]>> = Array.from({ length: N }, () => []);
  let rows = 0;
  // 15 700 /16s × 64 /24s: 80 % at the block's home, 10 % elsewhere, 10 % split → ≈ 10^6 leaf rows
  for (let b = 0; rows < 1_000_000; b++) {
    const hi = 1 + (b >> 8);
    const mid = b & 255;
    const home = b % N;
    for (let c = 0; c < 64; c++) {
      const key = `${hi}.${mid}.${c * 4}.0/24`;
      const u = r2.next();
      const n = 1 + Math.floor(r2.next() * 60);
      if (u < 0.8) per[home]!.push([key, n]);
      else if (u < 0.9) per[(home + 3) % N]!.push([key, n]);
      else {
        per[home]!.push([key, n]);
        per[(home + 1) % N]!.push([key, n]);
        rows++;
      }
      rows++;
    }
  }
  const t1 = performance.now();
  for (let i = 0; i < N; i++) a.ingest({ v: 1, ingressId: `i${i}`, epoch: 1, seq: 1, intervalStart: 0, intervalEnd: 1, counts: per[i]!, total: 0, truncated: false, dropped: 0, paused: false }, 1);
  const ingestMs = performance.now() - t1;
  const ms: number[] = [];
  for (let k = 0; k < 5; k++) ms.push(a.round(1 + k * 10_000).ms);
  const r = a.round(60_000);
  ms.push(r.ms);
  ms.sort((x, y) => x - y);
  const entries = Object.values(r.ruleEntries).reduce((s, x) => s + x, 0);
  log(`one round over ${rows} (prefix, ingress) rows (${r.rows} with parents): median ${ms[ms.length >> 1]!.toFixed(0)} ms, max ${ms[ms.length - 1]!.toFixed(0)} ms of 6 rounds (ingest of those rows ${ingestMs.toFixed(0)} ms; ${entries} rule entries)`);
  results.bigRound = { rows, medianMs: ms[ms.length >> 1], maxMs: ms[ms.length - 1], ingestMs };
}

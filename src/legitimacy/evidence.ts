/**
 * Evidence at the ingress (pure; no I/O, no timers): how many *accepted* flows
 * each source prefix brought to this ingress, cut into numbered reports for
 * the control plane.
 *
 * What counts — the caller decides, and must only call {@link EvidenceCollector.record}
 * for flows whose source address cannot be spoofed:
 *  - a TCP connection once the handshake has completed (in Node: the listener's
 *    `connection` event — the kernel has seen the client answer our SYN-ACK), and
 *  - a UDP association opened by an *authenticated* TCP control connection
 *    (SOCKS5 UDP ASSOCIATE after auth): count the association, never datagrams.
 * Never count a bare UDP datagram, a SYN, or anything from a PROXY-protocol
 * header sent by an untrusted peer.
 *
 * Memory is bounded: at most `capacity` prefixes per interval, kept with the
 * Space-Saving heavy-hitter algorithm (Metwally et al. 2005). When a new prefix
 * arrives at a full table it takes the slot of the smallest one; counts are
 * reported as guaranteed lower bounds (count − inherited error), and the report
 * says `truncated: true` with `dropped` = flows whose prefix lost its slot. Any
 * prefix with more than `total / capacity` flows in an interval is always kept.
 *
 * `paused`: while the ingress is in attack mode (or an operator pauses
 * learning) the report says `paused: true` and the control plane learns nothing
 * from it; it still uses it to detect catchment shifts (accepted flows cannot be
 * spoofed, so they show where clients really arrive).
 *
 * Reports are idempotent: identified by (ingressId, epoch, seq). `epoch` is
 * fixed per process start (default: the wall-clock start time in ms), `seq`
 * counts up from 1 within it. A report stays in {@link EvidenceCollector.unacked}
 * until the control plane acknowledges it, so it can be sent again after a
 * reconnect; the control plane drops duplicates.
 */
import { DEFAULT_PREFIX_OPTIONS, prefixKey, type PrefixOptions } from './prefix.js';
import type { EvidenceReport } from '../shared/legitimacy-wire.js';

/** The report's wire shape lives in shared (the control protocol carries it); re-exported for this layer's users. */
export type { EvidenceReport } from '../shared/legitimacy-wire.js';

export interface EvidenceOptions {
  ingressId: string;
  /** Default: `Date.now()` when the collector is made. */
  epoch?: number;
  /** Prefixes kept per interval (default 8192). */
  capacity?: number;
  /** Reports kept for resending until acknowledged; the oldest are dropped beyond this (default 32). */
  maxUnacked?: number;
  prefix?: PrefixOptions;
  /** Wall clock in ms; injected for tests. */
  now?: () => number;
}

/** Space-Saving table: slots in a min-heap by count, key → slot in a map. */
class SpaceSaving {
  readonly keys: string[] = [];
  readonly counts: number[] = [];
  readonly errors: number[] = [];
  /** heap[i] = slot; pos[slot] = i */
  private heap: number[] = [];
  private pos: number[] = [];
  readonly index = new Map<string, number>();
  evictions = 0;
  droppedFlows = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.keys.length;
  }

  add(key: string, n: number): void {
    const slot = this.index.get(key);
    if (slot !== undefined) {
      this.counts[slot]! += n;
      this.down(this.pos[slot]!);
      return;
    }
    if (this.keys.length < this.capacity) {
      const s = this.keys.length;
      this.keys.push(key);
      this.counts.push(n);
      this.errors.push(0);
      this.pos.push(this.heap.length);
      this.heap.push(s);
      this.index.set(key, s);
      this.up(this.heap.length - 1);
      return;
    }
    // replace the minimum: the newcomer inherits its count as error
    const s = this.heap[0]!;
    const old = this.counts[s]!;
    this.droppedFlows += old - this.errors[s]!;
    this.evictions++;
    this.index.delete(this.keys[s]!);
    this.keys[s] = key;
    this.errors[s] = old;
    this.counts[s] = old + n;
    this.index.set(key, s);
    this.down(0);
  }

  private less(i: number, j: number): boolean {
    const a = this.heap[i]!;
    const b = this.heap[j]!;
    return this.counts[a]! < this.counts[b]!;
  }

  private swap(i: number, j: number): void {
    const a = this.heap[i]!;
    const b = this.heap[j]!;
    this.heap[i] = b;
    this.heap[j] = a;
    this.pos[b] = i;
    this.pos[a] = j;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const m = r < n && this.less(r, l) ? r : l;
      if (!this.less(m, i)) break;
      this.swap(i, m);
      i = m;
    }
  }
}

export class EvidenceCollector {
  readonly ingressId: string;
  readonly epoch: number;
  private readonly capacity: number;
  private readonly maxUnacked: number;
  private readonly prefix: PrefixOptions;
  private readonly now: () => number;
  private table: SpaceSaving;
  private total = 0;
  private invalid = 0;
  private start: number;
  private seq = 0;
  private pausedNow = false;
  private pausedInInterval = false;
  private readonly unackedReports: EvidenceReport[] = [];
  /** Reports dropped from the resend queue because it was full. */
  lostReports = 0;

  constructor(o: EvidenceOptions) {
    this.ingressId = o.ingressId;
    this.now = o.now ?? Date.now;
    this.epoch = o.epoch ?? this.now();
    this.capacity = o.capacity ?? 8192;
    if (!(this.capacity >= 1)) throw new RangeError('capacity must be ≥ 1');
    this.maxUnacked = o.maxUnacked ?? 32;
    this.prefix = o.prefix ?? DEFAULT_PREFIX_OPTIONS;
    this.table = new SpaceSaving(this.capacity);
    this.start = this.now();
  }

  /** Attack mode / operator pause: reports covering any paused time say `paused: true`. */
  get paused(): boolean {
    return this.pausedNow;
  }

  set paused(p: boolean) {
    this.pausedNow = p;
    if (p) this.pausedInInterval = true;
  }

  /** Count one accepted flow (see the module comment for what counts) from a source address. */
  record(address: string, n = 1): void {
    const key = prefixKey(address, this.prefix);
    if (key === undefined) {
      this.invalid += n;
      return;
    }
    this.recordPrefix(key, n);
  }

  /** Count flows under an already computed prefix key. */
  recordPrefix(key: string, n = 1): void {
    this.total += n;
    this.table.add(key, n);
  }

  /** Addresses that did not parse (never reported; for diagnostics). */
  get invalidAddresses(): number {
    return this.invalid;
  }

  /** Prefixes held in the current interval. */
  get size(): number {
    return this.table.size;
  }

  /**
   * Close the interval at `now`, start the next one, and return its report
   * (also queued in {@link unacked} until {@link ack}).
   */
  cut(now = this.now()): EvidenceReport {
    const t = this.table;
    const counts: Array<[string, number]> = [];
    let kept = 0;
    for (let s = 0; s < t.size; s++) {
      const n = t.counts[s]! - t.errors[s]!;
      if (n > 0) {
        counts.push([t.keys[s]!, n]);
        kept += n;
      }
    }
    counts.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const report: EvidenceReport = {
      v: 1,
      ingressId: this.ingressId,
      epoch: this.epoch,
      seq: ++this.seq,
      intervalStart: this.start,
      intervalEnd: now,
      counts,
      total: this.total,
      truncated: t.evictions > 0,
      dropped: this.total - kept,
      paused: this.pausedInInterval || this.pausedNow,
    };
    this.table = new SpaceSaving(this.capacity);
    this.total = 0;
    this.start = now;
    this.pausedInInterval = this.pausedNow;
    this.unackedReports.push(report);
    while (this.unackedReports.length > this.maxUnacked) {
      this.unackedReports.shift();
      this.lostReports++;
    }
    return report;
  }

  /** The control plane has this report (or a duplicate of it): stop resending. */
  ack(seq: number, epoch = this.epoch): void {
    if (epoch !== this.epoch) return;
    const i = this.unackedReports.findIndex((r) => r.seq === seq);
    if (i >= 0) this.unackedReports.splice(i, 1);
  }

  /** Reports not yet acknowledged, oldest first (resend these after a reconnect). */
  unacked(): readonly EvidenceReport[] {
    return this.unackedReports;
  }
}

/** Structural check of a report received over the wire; returns a reason when it is unusable. */
export function checkReport(r: unknown, maxCounts = 65536): string | undefined {
  if (typeof r !== 'object' || r === null) return 'not an object';
  const o = r as Record<string, unknown>;
  if (o.v !== 1) return 'unsupported version';
  if (typeof o.ingressId !== 'string' || o.ingressId === '') return 'ingressId';
  for (const k of ['epoch', 'seq', 'intervalStart', 'intervalEnd', 'total', 'dropped'] as const) {
    if (typeof o[k] !== 'number' || !Number.isFinite(o[k]) || (o[k]) < 0) return k;
  }
  if (!Number.isInteger(o.seq) || (o.seq as number) < 1) return 'seq';
  if ((o.intervalEnd as number) < (o.intervalStart as number)) return 'interval';
  if (typeof o.truncated !== 'boolean' || typeof o.paused !== 'boolean') return 'flags';
  if (!Array.isArray(o.counts) || o.counts.length > maxCounts) return 'counts';
  for (const e of o.counts as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'number' || !(e[1] >= 0) || !Number.isFinite(e[1])) return 'counts entry';
  }
  return undefined;
}

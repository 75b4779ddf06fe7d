/**
 * The config stream's server side. The hub keeps the rendered configuration
 * in memory and follows the revision: on a change it reads only what the
 * change log says changed (customers by id; exits or settings as a whole),
 * re-renders those, and sends each subscribed ingress a delta — users upserted
 * or deleted by login, the exit list or the settings when they changed. A new
 * subscriber gets `hello` and the full `snapshot` first (one serialized copy
 * per revision, shared by every subscriber).
 *
 * It hears of changes from this process's store at once, from other
 * control-plane processes on the same PostgreSQL through LISTEN/NOTIFY, and by
 * polling the revision every second in case a notification was missed.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type pg from 'pg';
import { UserSchema } from '../shared/schema/ingress-config.js';
import type { Logger } from '../shared/log.js';
import type { DeltaMessage, HelloMessage, PingMessage, SnapshotMessage } from '../shared/control-protocol.js';
import type { ControlMetrics } from './metrics.js';
import { liveExitIds, renderExits, renderUser, settingsAndExitsProblem } from './render.js';
import { sourceAuthConflicts } from './source-claims.js';
import type { CustomerRecord, ControlStore, ExitRecord } from './store/index.js';
import type { SettingKey } from './api-schemas.js';

interface RenderedUser {
  readonly id: string;
  readonly login: string;
  readonly obj: Record<string, unknown>;
  readonly json: string;
  readonly warning: string | undefined;
}

interface HubState {
  revision: number;
  customers: Map<string, CustomerRecord>;
  exits: ExitRecord[];
  exitsJson: string;
  renderedExits: Record<string, unknown>[];
  settings: Partial<Record<SettingKey, unknown>>;
  settingsJson: string;
  users: Map<string, RenderedUser>;
  /** Source-auth customers rendered without source auth because their ranges overlap (source-claims.ts). */
  conflicts: Map<string, string>;
}

export interface Subscriber {
  readonly nodeId: string;
  readonly pullToken: string;
  readonly res: ServerResponse;
  readonly since: number;
  /** Last revision sent. */
  revision: number;
  /** Last revision the ingress acknowledged, and where it answers statistics pulls. */
  acked: number | undefined;
  adminUrl: string | undefined;
  close(): void;
}

export interface HubOptions {
  readonly log?: Logger;
  readonly metrics?: ControlMetrics;
  readonly heartbeatMs?: number;
  readonly pollMs?: number;
  /** Drop a subscriber whose unsent output exceeds this (it reconnects and gets a snapshot). */
  readonly maxBufferedBytes?: number;
}

export class ConfigHub {
  readonly replica = `cp_${randomBytes(6).toString('hex')}`;
  private state: HubState | undefined;
  private snapshotCache: { revision: number; line: string } | undefined;
  private readonly subs = new Set<Subscriber>();
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly stops: Array<() => void> = [];
  private listener: pg.Client | undefined;
  private readonly heartbeatMs: number;
  /** Told to every ingress in `hello` (set by the legitimacy service). */
  legitimacyHello: HelloMessage['legitimacy'];
  /** Called after each refresh that moved the revision (tests, the quota enforcer). */
  onRevision: ((revision: number) => void) | undefined;
  private readonly ackWaiters = new Set<{ node: string; revision: number; resolve: () => void }>();
  private readonly presence = new Set<(nodeId: string, up: boolean) => void>();

  constructor(
    private readonly store: ControlStore,
    private readonly o: HubOptions = {},
  ) {
    this.heartbeatMs = o.heartbeatMs ?? 15_000;
  }

  get revision(): number {
    return this.state?.revision ?? 0;
  }

  get subscribers(): ReadonlySet<Subscriber> {
    return this.subs;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.stops.push(this.store.onCommitted(() => this.kick()));
    const poll = setInterval(() => this.kick(), this.o.pollMs ?? 1000);
    poll.unref();
    const beat = setInterval(() => this.heartbeat(), this.heartbeatMs);
    beat.unref();
    this.timers.push(poll, beat);
    if (this.store.target.dialect === 'postgres') await this.listen();
  }

  /** LISTEN on the revision channel; reconnect after a second when the connection drops. */
  private async listen(): Promise<void> {
    // pg is loaded only on PostgreSQL (a SQLite control plane never needs it).
    const { default: pgClient } = await import('pg');
    if (this.closed) return;
    const c = new pgClient.Client({ connectionString: this.store.target.location });
    const retry = (): void => {
      if (this.closed || this.listener !== c) return;
      this.listener = undefined;
      c.end().catch(() => undefined);
      const t = setTimeout(() => void this.listen().catch(() => undefined), 1000);
      t.unref();
    };
    this.listener = c;
    c.on('error', (err) => {
      this.o.log?.warn({ err: err.message }, 'revision listener lost; reconnecting');
      retry();
    });
    c.on('end', retry);
    c.on('notification', () => this.kick());
    try {
      await c.connect();
      await c.query(`LISTEN "${this.store.notifyChannel}"`);
      this.kick(); // anything committed while we were not listening
    } catch (err) {
      this.o.log?.warn({ err: (err as Error).message }, 'revision listener could not connect; retrying');
      retry();
    }
  }

  /** Schedule a refresh (coalesced). */
  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.refresh();
        } catch (err) {
          this.o.log?.error({ err: (err as Error).message }, 'config stream refresh failed');
        }
      } while (this.again && !this.closed);
    })().finally(() => (this.running = undefined));
  }

  /** Wait until the hub has caught up with the database's current revision. */
  async sync(): Promise<void> {
    this.kick(); // starts a refresh, or asks the running one to go round once more
    while (this.running) await this.running;
  }

  private async refresh(): Promise<void> {
    const store = this.store;
    const prev = this.state;
    // Read only: on SQLite it begins DEFERRED and never waits for a writer (WAL).
    let tx = store.db.transaction().setAccessMode('read only');
    if (store.target.dialect === 'postgres') tx = tx.setIsolationLevel('repeatable read');
    const read = await tx.execute(async (trx) => {
      const revision = await store.revision(trx);
      if (prev && revision <= prev.revision) return undefined;
      if (!prev) {
        return { revision, full: true as const, customers: await store.listCustomers({}, trx), exits: await store.listExits(trx), settings: await store.getSettings(trx) };
      }
      const entries = await trx.selectFrom('change_log').select(['entity', 'entity_id']).where('revision', '>', prev.revision).where('revision', '<=', revision).execute();
      const ids = new Set<string>();
      let exitsDirty = false;
      let settingsDirty = false;
      for (const e of entries) {
        if (e.entity === 'customer' || e.entity === 'assignment') ids.add(e.entity_id);
        else if (e.entity === 'exit') exitsDirty = true;
        else if (e.entity === 'setting') settingsDirty = true;
      }
      return {
        revision,
        full: false as const,
        ids,
        customers: await store.listCustomers({ ids: [...ids] }, trx),
        exits: exitsDirty ? await store.listExits(trx) : undefined,
        settings: settingsDirty ? await store.getSettings(trx) : undefined,
      };
    });
    if (!read) return;
    const started = performance.now();

    if (read.full) {
      const s = this.buildState(read.revision, read.customers, read.exits, read.settings);
      this.state = s;
      this.o.metrics?.revision.set(s.revision);
      this.onRevision?.(s.revision);
      return;
    }
    const s = prev!;
    const from = s.revision;
    const delta: { revision: number; from: number; users?: { upsert: Record<string, unknown>[]; delete: string[] }; exits?: Record<string, unknown>[]; settings?: Record<string, unknown>; warnings?: string[] } = { revision: read.revision, from };
    const upsert: RenderedUser[] = [];
    const deleted: string[] = [];

    let rerenderAll = false;
    if (read.exits) {
      const renderedExits = renderExits(read.exits);
      const exitsJson = JSON.stringify(renderedExits);
      const oldLive = [...liveExitIds(s.exits)].join('\0');
      s.exits = read.exits;
      if (exitsJson !== s.exitsJson) {
        s.exitsJson = exitsJson;
        s.renderedExits = renderedExits;
        delta.exits = renderedExits;
      }
      rerenderAll = oldLive !== [...liveExitIds(read.exits)].join('\0');
    }
    if (read.settings) {
      const settingsJson = JSON.stringify(read.settings);
      if (settingsJson !== s.settingsJson) {
        s.settings = read.settings;
        s.settingsJson = settingsJson;
        delta.settings = read.settings;
      }
    }
    if (delta.exits || delta.settings) {
      // The parts besides users must still make a valid document.
      const problem = settingsAndExitsProblem(s.settings, s.exits);
      if (problem) this.o.log?.error({ err: problem, revision: read.revision }, 'rendered settings/exits are not a valid ingress configuration');
    }
    const fetched = new Map(read.customers.map((c) => [c.id, c]));
    // Overlaps depend only on source-auth customers: recompute them when one of those changes.
    const sourceAuthTouched = read.customers.some((c) => c.sourceAuth) || [...read.ids].some((id) => s.customers.get(id)?.sourceAuth === true);
    for (const id of read.ids) {
      const c = fetched.get(id);
      if (c) s.customers.set(id, c);
      else if (s.customers.delete(id)) {
        const u = s.users.get(id);
        if (u) {
          s.users.delete(id);
          deleted.push(u.login);
        }
      }
    }
    const liveIds = liveExitIds(s.exits);
    // A change to one source-auth customer can end (or, from old rows, start) another's overlap.
    const conflicts = sourceAuthTouched ? sourceAuthConflicts(s.customers.values()) : s.conflicts;
    const toRender = rerenderAll ? [...s.customers.values()] : [...read.customers];
    if (!rerenderAll) {
      for (const id of new Set([...conflicts.keys(), ...s.conflicts.keys()])) {
        const c = s.customers.get(id);
        if (c && conflicts.get(id) !== s.conflicts.get(id) && !fetched.has(id)) toRender.push(c);
      }
    }
    s.conflicts = conflicts;
    for (const c of toRender) {
      const u = this.renderOne(c, liveIds, conflicts);
      const old = s.users.get(c.id);
      if (old?.json === u.json) continue;
      if (!UserSchema.safeParse(u.obj).success) {
        this.o.log?.error({ login: c.login, revision: read.revision }, 'rendered user is not valid; left out of the delta');
        continue;
      }
      if (old && old.login !== u.login) deleted.push(old.login);
      s.users.set(c.id, u);
      upsert.push(u);
    }
    if (upsert.length > 0 || deleted.length > 0) delta.users = { upsert: upsert.map((u) => u.obj), delete: deleted };
    const warnings = upsert.map((u) => u.warning).filter((w): w is string => w !== undefined);
    if (warnings.length > 0) delta.warnings = warnings;
    s.revision = read.revision;

    const line = JSON.stringify({ type: 'delta', ...delta } satisfies DeltaMessage) + '\n';
    for (const sub of this.subs) {
      if (sub.revision !== from) {
        sub.close(); // it missed something (should not happen): a reconnect brings a snapshot
        continue;
      }
      this.write(sub, line, 'delta');
      sub.revision = read.revision;
    }
    this.o.metrics?.revision.set(s.revision);
    this.o.metrics?.deltaSeconds.observe((performance.now() - started) / 1000);
    this.o.log?.debug({ revision: s.revision, users: upsert.length, deleted: deleted.length, exits: !!delta.exits, settings: !!delta.settings, subscribers: this.subs.size }, 'config delta sent');
    this.onRevision?.(s.revision);
  }

  private renderOne(c: CustomerRecord, liveIds: ReadonlySet<string>, conflicts: ReadonlyMap<string, string>): RenderedUser {
    const warnings: string[] = [];
    const obj = renderUser(c, liveIds, warnings, Date.now(), conflicts);
    return { id: c.id, login: c.login, obj, json: JSON.stringify(obj), warning: warnings[0] };
  }

  private buildState(revision: number, customers: CustomerRecord[], exits: ExitRecord[], settings: Partial<Record<SettingKey, unknown>>): HubState {
    const liveIds = liveExitIds(exits);
    const renderedExits = renderExits(exits);
    const users = new Map<string, RenderedUser>();
    const conflicts = sourceAuthConflicts(customers);
    for (const c of customers) users.set(c.id, this.renderOne(c, liveIds, conflicts));
    return {
      revision,
      customers: new Map(customers.map((c) => [c.id, c])),
      exits,
      exitsJson: JSON.stringify(renderedExits),
      renderedExits,
      settings,
      settingsJson: JSON.stringify(settings),
      users,
      conflicts,
    };
  }

  /** The full snapshot line for the current revision (built once per revision). */
  snapshotLine(): string {
    const s = this.state!;
    if (this.snapshotCache?.revision === s.revision) return this.snapshotCache.line;
    const users = [...s.users.values()].sort((a, b) => (a.login < b.login ? -1 : a.login > b.login ? 1 : 0));
    const warnings = users.map((u) => u.warning).filter((w): w is string => w !== undefined);
    const msg: SnapshotMessage = {
      type: 'snapshot',
      revision: s.revision,
      config: { version: 1, ...(s.settings as Record<string, unknown>), users: users.map((u) => u.obj), exits: s.renderedExits },
      ...(warnings.length > 0 ? { warnings } : {}),
    };
    const line = JSON.stringify(msg) + '\n';
    this.snapshotCache = { revision: s.revision, line };
    this.o.metrics?.snapshotBytes.set(Buffer.byteLength(line));
    return line;
  }

  /** Attach an ingress's stream: hello and the snapshot now, deltas from here on. */
  async subscribe(nodeId: string, res: ServerResponse): Promise<Subscriber> {
    await this.sync();
    const s = this.state!;
    let closed = false;
    const sub: Subscriber = {
      nodeId,
      pullToken: `hgpull_${randomBytes(24).toString('base64url')}`,
      res,
      since: Date.now(),
      revision: s.revision,
      acked: undefined,
      adminUrl: undefined,
      close: () => {
        if (closed) return;
        closed = true;
        const was = this.subs.delete(sub);
        this.o.metrics?.subscribers.set(this.subs.size);
        if (was) for (const f of this.presence) f(nodeId, false);
        if (!res.writableEnded) res.end();
        res.destroy();
      },
    };
    res.on('close', () => sub.close());
    const hello: HelloMessage = {
      type: 'hello',
      node: nodeId,
      revision: s.revision,
      pullToken: sub.pullToken,
      heartbeatMs: this.heartbeatMs,
      replica: this.replica,
      ...(this.legitimacyHello ? { legitimacy: this.legitimacyHello } : {}),
    };
    this.write(sub, JSON.stringify(hello) + '\n', 'hello');
    this.write(sub, this.snapshotLine(), 'snapshot');
    // Another subscription of the same node (a restarted ingress) replaces the old one.
    for (const other of this.subs) if (other.nodeId === nodeId) other.close();
    this.subs.add(sub);
    this.o.metrics?.subscribers.set(this.subs.size);
    for (const f of this.presence) f(nodeId, true);
    return sub;
  }

  /** Hear of ingresses subscribing (up) and of subscriptions ending (down; a replaced one too). Returns the unsubscribe. */
  watchPresence(f: (nodeId: string, up: boolean) => void): () => void {
    this.presence.add(f);
    return () => void this.presence.delete(f);
  }

  /** The node holds a stream on this process. */
  isSubscribed(nodeId: string): boolean {
    for (const sub of this.subs) if (sub.nodeId === nodeId) return true;
    return false;
  }

  /** Send one message (a JSON object) on the node's stream(s) here; false when it holds none. */
  sendTo(nodeId: string, msg: { type: string }): boolean {
    let line: string | undefined;
    let sent = false;
    for (const sub of this.subs) {
      if (sub.nodeId !== nodeId) continue;
      line ??= JSON.stringify(msg) + '\n';
      this.write(sub, line, msg.type);
      sent = true;
    }
    return sent;
  }

  /** An ingress acknowledged `revision` (and said where it answers pulls). */
  noteAck(nodeId: string, revision: number, adminUrl: string | undefined): void {
    for (const sub of this.subs) {
      if (sub.nodeId !== nodeId) continue;
      sub.acked = revision;
      if (adminUrl !== undefined) sub.adminUrl = adminUrl;
    }
    for (const w of this.ackWaiters) {
      if (w.node === nodeId && revision >= w.revision) {
        this.ackWaiters.delete(w);
        w.resolve();
      }
    }
  }

  /** Resolves when `nodeId` acknowledges `revision` or later through this process (tests, benchmark). */
  waitForAck(nodeId: string, revision: number, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const w = {
        node: nodeId,
        revision,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      };
      const t = setTimeout(() => {
        this.ackWaiters.delete(w);
        reject(new Error(`node ${nodeId} did not acknowledge revision ${revision} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.ackWaiters.add(w);
      for (const sub of this.subs) if (sub.nodeId === nodeId && (sub.acked ?? -1) >= revision) w.resolve();
    });
  }

  private write(sub: Subscriber, line: string, type: string): void {
    if (sub.res.writableEnded || sub.res.destroyed) return sub.close();
    sub.res.write(line);
    this.o.metrics?.messages.inc({ type });
    if (sub.res.writableLength > (this.o.maxBufferedBytes ?? 256 << 20)) {
      this.o.log?.warn({ node: sub.nodeId }, 'config stream subscriber is not reading; dropped');
      sub.close();
    }
  }

  private heartbeat(): void {
    const line = JSON.stringify({ type: 'ping', revision: this.revision } satisfies PingMessage) + '\n';
    for (const sub of this.subs) this.write(sub, line, 'ping');
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const stop of this.stops) stop();
    for (const sub of [...this.subs]) sub.close();
    const l = this.listener;
    this.listener = undefined;
    await l?.end().catch(() => undefined);
    while (this.running) await this.running.catch(() => undefined);
  }
}

/**
 * The asset store's front door: one object over the repositories (customers,
 * exits, ingress nodes, settings, usage, quotas, the events outbox and
 * webhooks) and the revision/change log
 * every configuration write goes through (revision.ts), over either database.
 * Callers keep one flat API; each method is the repository's own.
 */
import { openDb, type ControlDb, type DbTarget, type OpenDbOptions } from '../db.js';
import { migrateToLatest, type MigrationReport } from '../migrations.js';
import { DbUnavailableError } from '../db-unavailable.js';
import { CustomerRepo } from './customers.js';
import { ExitRepo } from './exits.js';
import { NodeRepo } from './nodes.js';
import { QuotaRepo } from './quotas.js';
import type { StoreSnapshot } from './records.js';
import { Revisions } from './revision.js';
import { SettingsRepo } from './settings.js';
import { now, type Db, type Tx } from './tx.js';
import { FailoverRepo } from './failovers.js';
import { portContext, customerPorts, grantedExitIds, portLabel } from '../customer-ports.js';
import { writeAssignment } from './assignments.js';
import { ApiError, notFound } from '../errors.js';
import type { CustomerRecord } from './records.js';
import { readSettings } from './settings.js';
import { UsageRepo } from './usage.js';
import { LoginDomainRepo } from './login-domain-stats.js';
import { OutboxRepo } from './outbox.js';
import { JetStreamOutbox } from './jetstream-outbox.js';
import { WebhookRepo } from './webhooks.js';
import { JetStreamRequestKeys } from './jetstream-requests.js';
import { HealthHistoryRepo } from './health-history.js';
import type { ExitProbeReport } from '../../shared/control-protocol.js';

export type { ChangeRecord, CustomerRecord, ExitRecord, QuotaStatus, StoreSnapshot, UsageQuery, UsageRow } from './records.js';

export class ControlStore {
  readonly revisions: Revisions;
  readonly customers: CustomerRepo;
  readonly exits: ExitRepo;
  readonly nodes: NodeRepo;
  readonly settings: SettingsRepo;
  readonly stats: UsageRepo;
  /** Login outcomes and target domains per minute. */
  readonly loginDomains: LoginDomainRepo;
  readonly quotas: QuotaRepo;
  /** Events for outside systems and their webhook deliveries. */
  readonly outbox: OutboxRepo;
  readonly webhooks: WebhookRepo;
  /** The outbox's JetStream side (events/jetstream.ts). */
  readonly jetstream: JetStreamOutbox;
  /** Keys and answers of change messages taken in over JetStream (nats-requests/). */
  readonly requestKeys: JetStreamRequestKeys;
  readonly failovers: FailoverRepo;
  readonly health: HealthHistoryRepo;
  /** An ingress's exit health report counts this long (then the node is taken as gone). */
  healthFreshMs = 60_000;

  private constructor(
    private readonly cdb: ControlDb,
    readonly migration: MigrationReport,
  ) {
    const db = cdb.db;
    this.outbox = new OutboxRepo(db, cdb.target.dialect);
    this.revisions = new Revisions(cdb, this.outbox.notifyWritten);
    const change = this.revisions.change;
    this.customers = new CustomerRepo(db, change);
    this.failovers = new FailoverRepo(db, cdb.target.dialect);
    this.health = new HealthHistoryRepo(db, cdb.target.dialect);
    this.exits = new ExitRepo(db, change, {
      changed: (trx) => this.syncFailovers(trx),
      removing: (trx, exitId, customerIds) => this.exitRemoving(trx, exitId, customerIds),
    });
    this.nodes = new NodeRepo(db, change);
    this.settings = new SettingsRepo(db, change);
    this.stats = new UsageRepo(db, cdb.target.dialect, this.outbox.notifyWritten);
    this.loginDomains = new LoginDomainRepo(db);
    this.quotas = new QuotaRepo(db, change, this.outbox.notifyWritten);
    this.webhooks = new WebhookRepo(db);
    this.jetstream = new JetStreamOutbox(db, cdb.target.dialect);
    this.requestKeys = new JetStreamRequestKeys(db);
  }

  /** Open the database and apply pending migrations. */
  static async open(target: DbTarget, o: OpenDbOptions = {}): Promise<ControlStore> {
    const cdb = await openDb(target, o);
    try {
      const report = await migrateToLatest(cdb);
      return new ControlStore(cdb, report);
    } catch (err) {
      await cdb.close();
      throw err;
    }
  }

  get db(): Db {
    return this.cdb.db;
  }

  get target(): DbTarget {
    return this.cdb.target;
  }

  /** How long a statement waits for a locked or unreachable database before failing as unavailable. */
  get waitMs(): number {
    return this.cdb.waitMs;
  }

  /** PostgreSQL NOTIFY channel announcing new revisions (one per schema, so schemas do not hear each other). */
  get notifyChannel(): string {
    return this.revisions.notifyChannel;
  }

  /** The revision, or DbUnavailableError when the database does not answer within the wait bound (health checks). */
  async revisionWithin(ms = this.waitMs): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DbUnavailableError('unreachable', `the database did not answer within ${ms} ms`)), ms);
    });
    const read = this.revision();
    read.catch(() => undefined); // a late failure after the deadline has no one left to tell
    try {
      return await Promise.race([read, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    return this.cdb.close();
  }

  /** Revision, customers, exits and settings as of one instant. */
  async snapshot(): Promise<StoreSnapshot> {
    let tx = this.db.transaction().setAccessMode('read only');
    if (this.target.dialect === 'postgres') tx = tx.setIsolationLevel('repeatable read');
    return tx.execute(async (trx) => {
      const revision = await this.revision(trx);
      const customers = await this.listCustomers({}, trx);
      const exits = await this.listExits(trx);
      const settings = await this.getSettings(trx);
      return { revision, customers, exits, settings };
    });
  }

  /** Exits reported down by a fresh ingress report. */
  downExits(db: Db = this.db): Promise<Set<string>> {
    return this.failovers.downExits(new Date(Date.now() - this.healthFreshMs).toISOString(), db);
  }

  /**
   * Bring every customer's failover state (and notices) up to date: inside an exit change's
   * transaction (a drain), or in a transaction of its own after ingresses reported health.
   */
  async syncFailovers(trx?: Tx): Promise<number> {
    const run = async (t: Tx): Promise<number> => {
      const [customers, exits, settings, down] = [await this.listCustomers({}, t), await this.listExits(t), await readSettings(t), await this.downExits(t)];
      let ctx: ReturnType<typeof portContext>;
      try {
        ctx = portContext(exits, settings);
      } catch {
        // Not a valid ingress configuration (an egress address twice…): the change's own check refuses it with its 400 next.
        return 0;
      }
      const at = now();
      await this.outbox.exitTransitions(t, exits.map((e) => e.id), (id) => down.has(id), 'reported by the ingresses', at);
      return this.failovers.sync(t, ctx, customers, (id) => down.has(id), at);
    };
    return trx ? run(trx) : this.failovers.healthTx(run);
  }

  /** Before an exit leaves customers' lists (forced delete): tell each which port it was on; their port state starts afresh. */
  private async exitRemoving(trx: Tx, exitId: string, customerIds: readonly string[]): Promise<void> {
    if (customerIds.length === 0) return;
    const [customers, exits, settings, down] = [await this.listCustomers({ ids: customerIds }, trx), await this.listExits(trx), await readSettings(trx), await this.downExits(trx)];
    const ctx = portContext(exits, settings);
    const at = now();
    for (const c of customers) {
      const row = customerPorts(ctx, c, (id) => down.has(id))?.rows.find((r) => r.exit?.id === exitId && portLabel(r) !== undefined);
      const label = row ? portLabel(row)! : 'a port';
      await this.failovers.add(
        trx,
        c.id,
        { kind: 'exit_removed', port: row?.port ?? null, label: row ? label : null, exitId, replacementId: null, reason: 'removed', message: `${label}: exit ${exitId} was removed from your exits by the operator; the ports after it now serve the next exits of your list` },
        at,
      );
    }
    await this.failovers.forget(trx, customerIds);
  }

  /**
   * A customer orders their own exits (PUT /v1/me/exits): every id must be among the exits
   * granted to them (their list, their pools' exits, the operator's grant), else 403
   * exit_not_granted — an unknown id too, so a customer learns nothing of others' exits. What
   * they had stays granted (the grant keeps their old list), so reordering never loses an exit.
   * Their ports' failover state starts afresh under the new order.
   */
  async setOwnExits(customerId: string, exits: readonly string[], actor: string): Promise<CustomerRecord> {
    await this.revisions.change(actor, async (trx, record) => {
      const c = await this.getCustomer(customerId, trx);
      if (!c) throw notFound('customer', customerId);
      const all = await this.listExits(trx);
      const granted = grantedExitIds(c, all);
      for (const [i, id] of exits.entries()) {
        if (!granted.has(id)) throw new ApiError(403, 'exit_not_granted', `exit '${id}' is not among the exits granted to you (GET /v1/me/exits lists them)`, `body.exits.${i}`);
      }
      await writeAssignment(trx, customerId, exits);
      const keep = [...granted].filter((id) => !exits.includes(id) && !(c.pools.length > 0 && !c.exits.includes(id) && !c.exitGrant.includes(id)));
      await trx.updateTable('customers').set({ exit_grant: JSON.stringify(keep), updated_at: now() }).where('id', '=', customerId).execute();
      record('assignment', customerId, 'update');
      await this.failovers.forget(trx, [customerId]);
      const updated = (await this.getCustomer(customerId, trx))!;
      const down = await this.downExits(trx);
      await this.failovers.sync(trx, portContext(all, await readSettings(trx)), [updated], (id) => down.has(id), now());
    });
    return (await this.getCustomer(customerId))!;
  }

  readonly listNotices = (...a: Parameters<FailoverRepo['list']>) => this.failovers.list(...a);
  readonly markNoticesRead = (...a: Parameters<FailoverRepo['markRead']>) => this.failovers.markRead(...a);
  /** What one ingress node reports of its exits now (replaces its previous report; transitions and probe minutes into the history). */
  recordExitHealth(nodeId: string, down: readonly string[], at: string, probes?: readonly ExitProbeReport[]): Promise<number> {
    return this.health.record(nodeId, down, probes, at);
  }

  /** One exit's health history (`to` exclusive) and each node's latest report of it. */
  exitHealthHistory(exitId: string, from: string, to: string): ReturnType<HealthHistoryRepo['history']> {
    return this.health.history(exitId, from, to, new Date(Date.now() - this.healthFreshMs).toISOString());
  }

  readonly pruneHealthHistory = (...a: Parameters<HealthHistoryRepo['prune']>) => this.health.prune(...a);

  // The flat API: each is one repository's method.

  static view = CustomerRepo.view;
  static exitView = ExitRepo.view;

  readonly onCommitted = (...a: Parameters<Revisions['onCommitted']>) => this.revisions.onCommitted(...a);
  readonly revision = (...a: Parameters<Revisions['revision']>) => this.revisions.revision(...a);
  readonly changes = (...a: Parameters<Revisions['changes']>) => this.revisions.changes(...a);

  readonly listCustomers = (...a: Parameters<CustomerRepo['list']>) => this.customers.list(...a);
  readonly countCustomers = (...a: Parameters<CustomerRepo['count']>) => this.customers.count(...a);
  readonly getCustomer = (...a: Parameters<CustomerRepo['get']>) => this.customers.get(...a);
  readonly getCustomerByLogin = (...a: Parameters<CustomerRepo['getByLogin']>) => this.customers.getByLogin(...a);
  readonly createCustomer = (...a: Parameters<CustomerRepo['create']>) => this.customers.create(...a);
  readonly updateCustomer = (...a: Parameters<CustomerRepo['update']>) => this.customers.update(...a);
  readonly setPasswordHash = (...a: Parameters<CustomerRepo['setPasswordHash']>) => this.customers.setPasswordHash(...a);
  readonly setAssignment = (...a: Parameters<CustomerRepo['setAssignment']>) => this.customers.setAssignment(...a);
  readonly deleteCustomer = (...a: Parameters<CustomerRepo['delete']>) => this.customers.delete(...a);

  readonly listExits = (...a: Parameters<ExitRepo['list']>) => this.exits.list(...a);
  readonly getExit = (...a: Parameters<ExitRepo['get']>) => this.exits.get(...a);
  readonly createExit = (...a: Parameters<ExitRepo['create']>) => this.exits.create(...a);
  readonly updateExit = (...a: Parameters<ExitRepo['update']>) => this.exits.update(...a);
  readonly setExitTokenHash = (...a: Parameters<ExitRepo['setTokenHash']>) => this.exits.setTokenHash(...a);
  readonly deleteExit = (...a: Parameters<ExitRepo['delete']>) => this.exits.delete(...a);
  readonly rotateExitLinkKey = (...a: Parameters<ExitRepo['rotateLinkKey']>) => this.exits.rotateLinkKey(...a);
  readonly issueExitLinkToken = (...a: Parameters<ExitRepo['issueLinkToken']>) => this.exits.issueLinkToken(...a);
  readonly exitByLinkToken = (...a: Parameters<ExitRepo['byLinkToken']>) => this.exits.byLinkToken(...a);
  readonly ingressLinkPins = (...a: Parameters<NodeRepo['linkPins']>) => this.nodes.linkPins(...a);

  readonly listNodes = (...a: Parameters<NodeRepo['list']>) => this.nodes.list(...a);
  readonly getNode = (...a: Parameters<NodeRepo['get']>) => this.nodes.get(...a);
  readonly createNode = (...a: Parameters<NodeRepo['create']>) => this.nodes.create(...a);
  readonly updateNode = (...a: Parameters<NodeRepo['update']>) => this.nodes.update(...a);
  readonly deleteNode = (...a: Parameters<NodeRepo['delete']>) => this.nodes.delete(...a);
  readonly recordNodeAck = (...a: Parameters<NodeRepo['recordAck']>) => this.nodes.recordAck(...a);
  readonly issueNodeToken = (...a: Parameters<NodeRepo['issueToken']>) => this.nodes.issueToken(...a);
  readonly nodeByToken = (...a: Parameters<NodeRepo['byToken']>) => this.nodes.byToken(...a);

  readonly getSettings = (...a: Parameters<SettingsRepo['get']>) => this.settings.get(...a);
  readonly patchSettings = (...a: Parameters<SettingsRepo['patch']>) => this.settings.patch(...a);

  readonly statsCursor = (...a: Parameters<UsageRepo['cursor']>) => this.stats.cursor(...a);
  readonly ingestStats = (...a: Parameters<UsageRepo['ingest']>) => this.stats.ingest(...a);
  readonly usage = (...a: Parameters<UsageRepo['query']>) => this.stats.query(...a);

  readonly quotaStatus = (...a: Parameters<QuotaRepo['status']>) => this.quotas.status(...a);
  readonly setQuotaFlags = (...a: Parameters<QuotaRepo['setFlags']>) => this.quotas.setFlags(...a);
  readonly recordQuotaCrossings = (...a: Parameters<QuotaRepo['recordCrossings']>) => this.quotas.recordCrossings(...a);
}

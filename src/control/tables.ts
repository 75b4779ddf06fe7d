/**
 * Row types of the control-plane database, as Kysely sees them. Portable
 * representation: booleans are integers 0/1, lists and objects are JSON text,
 * timestamps are ISO-8601 UTC text, counters and byte sizes are bigint (read
 * back as numbers). The migrations in migrations.ts create exactly this.
 */
import type { Generated } from 'kysely';

export interface ConfigStateTable {
  id: number;
  /** Bumped by one in the same transaction as every change to the configuration. */
  revision: number;
}

export interface ChangeLogTable {
  revision: number;
  /** Position of the entry within its revision (a change can touch several entities). */
  seq: number;
  at: string;
  entity: 'customer' | 'exit' | 'assignment' | 'ingress_node' | 'setting';
  entity_id: string;
  op: 'create' | 'update' | 'delete';
  /** 'operator' or 'customer:<id>'. */
  actor: string;
}

export interface CustomersTable {
  id: string;
  login: string;
  status: 'active' | 'suspended';
  password_hash: string | null;
  password_changed_at: string | null;
  sources: string;
  source_auth: number;
  max_connections: number | null;
  bandwidth_up: number | null;
  bandwidth_down: number | null;
  quota_bytes: number | null;
  quota_period: 'hour' | 'day' | 'month' | null;
  pools: string;
  port_base: number | null;
  port_scheme: 'sequential' | 'place' | null;
  places: string | null;
  /** Set by the control plane while the customer's quota for the period is used (ISO: when it resets). */
  quota_exceeded_until: string | null;
  /** JSON list of exit ids the operator lets the customer put on their ports beyond their list and pools (null: none). */
  exit_grant: string | null;
  /** 1: answer HTTP proxy requests with X-Hopgate-Exit (the customer opted in). */
  exit_header: number;
  created_at: string;
  updated_at: string;
}

export interface ExitsTable {
  id: string;
  kind: 'hopgate' | 'socks5' | 'http' | 'reverse';
  /** '' and 0 for a reverse exit (it dials the ingress). */
  host: string;
  port: number;
  username: string | null;
  password: string | null;
  egress_ip: string | null;
  /** Its IPv6 egress address beside egress_ip (dual stack). */
  egress_ip6: string | null;
  country: string | null;
  state: string | null;
  city: string | null;
  asn: number | null;
  via: string;
  tags: string;
  drain: number;
  /** Reverse exits: `$scrypt$…` of the exit's token (shown once when issued). */
  token_hash: string | null;
  token_changed_at: string | null;
  /** Reverse exits: JSON list of CIDRs it may register from (empty: any). */
  reverse_from: string | null;
  /** Reverse exits: work connections it may hold at each ingress (null: the ingress default). */
  max_work_connections: number | null;
  /** Reverse exits: JSON {allow, deny, ports} of what the ingress hands it (null: anything the target policy allows). */
  reverse_targets: string | null;
  /** Hopgate exits: the port it takes links on (null: the ingress uses its SOCKS5 port). */
  link_port: number | null;
  /** SHA-256 of the exit's link certificate that ingresses pin, and the next one during a rotation. */
  link_fingerprint: string | null;
  link_next_fingerprint: string | null;
  /** Hopgate exits: sha256 (hex) of the token it reads the ingresses' link pins with. */
  link_token_hash: string | null;
  created_at: string;
  updated_at: string;
}

export interface CustomerExitsTable {
  customer_id: string;
  position: number;
  exit_id: string;
}

export interface IngressNodesTable {
  id: string;
  name: string;
  last_seen_at: string | null;
  acked_revision: number | null;
  /** sha256 (hex) of the node's ingress token; null: no token issued. */
  token_hash: string | null;
  token_created_at: string | null;
  /** Where the ingress answers statistics pulls (reported with its acknowledgements). */
  admin_url: string | null;
  /** How far the control plane has stored the node's statistics: its ledger epoch and last sequence. */
  stats_epoch: string | null;
  stats_seq: number | null;
  stats_pulled_at: string | null;
  /** The node's link fingerprints as it last reported them (current, and a staged next one). */
  link_fingerprint: string | null;
  link_next_fingerprint: string | null;
  link_reported_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface SettingsTable {
  key: string;
  /** JSON text. */
  value: string;
  updated_at: string;
}

interface UsageCounters {
  bytes_up: number;
  bytes_down: number;
  connections: number;
  failures: number;
}

/** Final usage of one minute (`YYYY-MM-DDTHH:MM`, UTC) on one ingress, for one customer and exit ('' = direct). */
export interface UsageMinuteTable extends UsageCounters {
  minute: string;
  node_id: string;
  customer_id: string;
  login: string;
  exit_id: string;
}

/** Usage per customer per calendar period: `hour:YYYY-MM-DDTHH`, `day:YYYY-MM-DD`, `month:YYYY-MM`. */
export interface UsagePeriodTable extends UsageCounters {
  customer_id: string;
  period: string;
}

/** The open minute on each ingress as of its last pull. */
export interface UsageLiveTable extends UsageCounters {
  node_id: string;
  customer_id: string;
  login: string;
  exit_id: string;
  minute: string;
}

/** Login outcomes of one minute, summed over the ingresses (login-domain-migration.ts). */
export interface LoginMinuteTable {
  minute: string;
  customer_id: string;
  login: string;
  prefix: string;
  outcome: string;
  count: number;
}

/** Traffic of one minute per customer and target domain, summed over the ingresses. */
export interface DomainMinuteTable {
  minute: string;
  customer_id: string;
  login: string;
  domain: string;
  bytes_up: number;
  bytes_down: number;
  connections: number;
}

/** An event for outside systems, written in the transaction of the change it tells of (src/control/events/). */
export interface OutboxTable {
  id: Generated<number>;
  /** Stable per fact: a receiver drops repeats by it. */
  idempotency_key: string;
  kind: string;
  occurred_at: string;
  /** JSON of the kind's payload. */
  payload: string;
  /** 1 once a delivery row exists for every webhook that wanted it. */
  dispatched: number;
  /** 1 once JetStream acked it (0007_jetstream; stays 0 while no JetStream sink is configured). */
  js_published: Generated<number>;
  /** The publishing replica's lease (epoch ms): not claimed again before. */
  js_next_at: Generated<number>;
}

/** A change message's key and answer (0010_jetstream_requests; src/control/nats-requests/). */
export interface JetStreamRequestsTable {
  /** The request's Nats-Msg-Id. */
  msg_id: string;
  operation: string;
  /** 'pending' while a replica runs it, then 'done'. */
  state: string;
  /** JSON of the answer sent (secrets left out), once done. */
  answer: string | null;
  /** Epoch ms the claim was taken. */
  claimed_at: number;
  done_at: number | null;
}

export interface WebhooksTable {
  id: string;
  url: string;
  /** HMAC-SHA256 key of the signatures (shown to the operator when created). */
  secret: string;
  /** JSON list of event kinds; empty: every kind. */
  kinds: string;
  enabled: number;
  description: string | null;
  created_at: string;
  updated_at: string;
}

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  webhook_id: string;
  event_id: number;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  /** Epoch ms: when a pending delivery is next due; while a replica sends it, the end of its lease. */
  next_at: number;
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
  created_at: string;
}

/** One HTTP attempt of a delivery (the delivery log). */
export interface WebhookAttemptsTable {
  id: Generated<number>;
  delivery_id: number;
  webhook_id: string;
  event_id: number;
  attempt: number;
  at: string;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
}

/** A quota level (80, 100) announced for a customer, period and quota size. */
export interface QuotaAlertsTable {
  customer_id: string;
  period_key: string;
  quota_bytes: number;
  level: number;
  at: string;
}

/** A message to one customer (failover of one of their ports, its end, an exit taken off their list). */
export interface NoticesTable {
  id: string;
  customer_id: string;
  kind: 'failover' | 'restored' | 'exit_removed';
  port: number | null;
  /** 'port 8003' or 'index 3' (port routing off): the key failover state is kept under. */
  port_label: string | null;
  exit_id: string | null;
  replacement_id: string | null;
  /** 'down' | 'drained' | 'removed'. */
  reason: string | null;
  message: string;
  /** Further transitions of the same port folded into this notice (a flapping exit). */
  repeats: number;
  created_at: string;
  updated_at: string;
  read_at: string | null;
}

/** One customer port whose exit cannot serve (active 1), or could not when last seen (0): what notices are transitions of. */
export interface PortFailoverTable {
  customer_id: string;
  port_label: string;
  exit_id: string;
  replacement_id: string | null;
  reason: string;
  active: number;
  since: string;
  last_notice_id: string | null;
  last_notice_at: string | null;
}

/** The exits one ingress node last reported down (JSON list of ids), with the statistics pull. */
export interface NodeExitHealthTable {
  node_id: string;
  down: string;
  reported_at: string;
  /** JSON { exitId: LastProbe } of the node's latest probe per exit (null: an older ingress, or none). */
  last_probes: string | null;
}

/** One exit's up/down transition as one ingress node reported it (health history). */
export interface ExitHealthTransitionsTable {
  id: string;
  exit_id: string;
  node_id: string;
  from_state: 'up' | 'down';
  to_state: 'up' | 'down';
  at: string;
  reason: string;
}

/** One UTC minute of one node's probes of one exit: the latest totals it reported for that minute. */
export interface ExitProbeMinutesTable {
  exit_id: string;
  node_id: string;
  minute: string;
  probes_ok: number;
  probes_failed: number;
  latency_ms_sum: number;
}

export interface DB {
  config_state: ConfigStateTable;
  change_log: ChangeLogTable;
  customers: CustomersTable;
  exits: ExitsTable;
  customer_exits: CustomerExitsTable;
  ingress_nodes: IngressNodesTable;
  settings: SettingsTable;
  usage_minute: UsageMinuteTable;
  usage_period: UsagePeriodTable;
  usage_live: UsageLiveTable;
  login_minute: LoginMinuteTable;
  domain_minute: DomainMinuteTable;
  outbox: OutboxTable;
  jetstream_requests: JetStreamRequestsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  quota_alerts: QuotaAlertsTable;
  notices: NoticesTable;
  port_failover: PortFailoverTable;
  node_exit_health: NodeExitHealthTable;
  exit_health_transitions: ExitHealthTransitionsTable;
  exit_probe_minutes: ExitProbeMinutesTable;
}

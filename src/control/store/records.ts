/**
 * What the store hands out: customers (with their password hash), exits,
 * change-log entries, the rendered configuration's snapshot, usage and quota
 * rows. Types only, so the renderer, the stream and the API can name them
 * without importing the store.
 */
import type { ChangeLogTable } from '../tables.js';
import type { CustomerViewT, ExitViewT, SettingKey } from '../api-schemas.js';
import type { HopConfig } from '../../shared/schema/ingress-config.js';

export type Entity = ChangeLogTable['entity'];
export type Op = ChangeLogTable['op'];

export interface ChangeRecord {
  readonly revision: number;
  readonly seq: number;
  readonly at: string;
  readonly entity: Entity;
  readonly entityId: string;
  readonly op: Op;
  readonly actor: string;
}

/** A customer as the renderer needs it: with the password hash. */
export interface CustomerRecord extends CustomerViewT {
  readonly passwordHash: string | null;
}

/** An exit with its secrets, for rendering. */
export interface ExitRecord extends ExitViewT {
  /** The upstream proxy's password (forward exits). */
  readonly password: string | null;
  readonly viaFull: HopConfig[];
  /** `$scrypt$…` of the token a reverse exit registers with. */
  readonly tokenHash: string | null;
}

/** Everything the rendered configuration is made of, read in one transaction. */
export interface StoreSnapshot {
  readonly revision: number;
  readonly customers: CustomerRecord[];
  readonly exits: ExitRecord[];
  readonly settings: Partial<Record<SettingKey, unknown>>;
}

export interface UsageQuery {
  readonly granularity: 'minute' | 'hour' | 'day' | 'month';
  /** Minutes `from` ≤ minute < `to`, as `YYYY-MM-DDTHH:MM` (shorter prefixes compare correctly). */
  readonly from: string;
  readonly to: string;
  readonly customerId?: string;
  readonly exitId?: string;
  readonly nodeId?: string;
  /** Include the minutes still open on the ingresses (default true). */
  readonly live?: boolean;
  readonly limit?: number;
}

export interface UsageRow {
  /** `YYYY-MM-DDTHH:MM`, `YYYY-MM-DDTHH`, `YYYY-MM-DD` or `YYYY-MM`. */
  readonly period: string;
  readonly customerId: string;
  readonly login: string;
  /** '' for direct egress. */
  readonly exitId: string;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly connections: number;
  readonly failures: number;
}

export interface QuotaStatus {
  readonly id: string;
  readonly login: string;
  readonly bytes: number;
  readonly period: 'hour' | 'day' | 'month';
  readonly periodKey: string;
  readonly used: number;
  readonly exceededUntil: string | null;
}

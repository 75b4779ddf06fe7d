/**
 * What a repository needs to write: the transaction type and the shape of
 * the one change runner (revision.ts) every configuration write goes through.
 * Kept apart from revision.ts so repositories do not import it (it imports
 * the settings reader for its whole-configuration check).
 */
import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { DB } from '../tables.js';
import type { ChangeEventData, ChangeEventKind } from '../events/kinds.js';
import type { Entity, Op } from './records.js';

export type Db = Kysely<DB>;
export type Tx = Transaction<DB>;

/** Notes one entity a change touched (it becomes a change-log entry of the change's revision). */
export type RecordChange = (entity: Entity, id: string, op: Op) => void;

/**
 * Tells outside systems of the change (an outbox event, src/control/events/): written in
 * the change's transaction, keyed `kind:entityId:revision`, with the revision and actor.
 */
export type EmitEvent = <K extends ChangeEventKind>(kind: K, entityId: string, data: ChangeEventData<K>) => void;

/**
 * Run `fn` as one change (revision.ts): one transaction, one revision bump,
 * the recorded entries appended to the change log, the emitted events to the
 * outbox. A throw rolls it all back.
 */
export type RunChange = <T>(actor: string, fn: (trx: Tx, record: RecordChange, emit: EmitEvent) => Promise<T>) => Promise<T>;

/** Thrown inside a change to roll it back without bumping the revision (nothing to do). */
export const NO_CHANGE = new Error('no change');

export const now = (): string => new Date().toISOString();

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(8).toString('hex')}`;
}

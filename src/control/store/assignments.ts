/** A customer's ordered exit list (customer_exits): read by customers, rewritten by customers and exits. */
import { ApiError } from '../errors.js';
import type { Db, Tx } from './tx.js';

/** Exit ids per customer, in assignment order; all customers when `ids` is undefined. */
export async function customerExits(db: Db, ids?: string[]): Promise<Map<string, string[]>> {
  let q = db.selectFrom('customer_exits').select(['customer_id', 'exit_id']).orderBy('customer_id').orderBy('position');
  if (ids) {
    if (ids.length === 0) return new Map();
    q = q.where('customer_id', 'in', ids);
  }
  const out = new Map<string, string[]>();
  for (const r of await q.execute()) {
    const list = out.get(r.customer_id);
    if (list) list.push(r.exit_id);
    else out.set(r.customer_id, [r.exit_id]);
  }
  return out;
}

/** Replace a customer's exit list; 400 for an exit listed twice or unknown. */
export async function writeAssignment(trx: Tx, customerId: string, exits: readonly string[]): Promise<void> {
  const seen = new Set<string>();
  for (const [i, id] of exits.entries()) {
    if (seen.has(id)) throw new ApiError(400, 'invalid_request', `exit '${id}' is listed twice`, `body.exits.${i}`);
    seen.add(id);
  }
  await checkExitsExist(trx, exits, 'body.exits');
  await trx.deleteFrom('customer_exits').where('customer_id', '=', customerId).execute();
  if (exits.length > 0) {
    await trx
      .insertInto('customer_exits')
      .values(exits.map((exit_id, position) => ({ customer_id: customerId, position, exit_id })))
      .execute();
  }
}

/**
 * How many customers may use each exit: those who list it, plus those with
 * neither an exit list nor a pool, who have every exit (the `all` count,
 * added by the caller to every exit's count).
 */
export async function exitUse(db: Db): Promise<{ listed: Map<string, number>; all: number }> {
  const rows = await db
    .selectFrom('customer_exits')
    .select(['exit_id', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('exit_id')
    .execute();
  const all = await db
    .selectFrom('customers')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where((eb) => eb.not(eb.exists(eb.selectFrom('customer_exits').select('customer_exits.exit_id').whereRef('customer_exits.customer_id', '=', 'customers.id'))))
    .where('pools', '=', '[]')
    .executeTakeFirst();
  return { listed: new Map(rows.map((r) => [r.exit_id, Number(r.n)])), all: Number(all?.n ?? 0) };
}

/** 400 unknown_exit naming the first id (`field`.i) that is not an exit. */
export async function checkExitsExist(trx: Tx, exits: readonly string[], field: string): Promise<void> {
  if (exits.length === 0) return;
  const known = new Set((await trx.selectFrom('exits').select('id').where('id', 'in', [...new Set(exits)]).execute()).map((r) => r.id));
  const i = exits.findIndex((e) => !known.has(e));
  if (i >= 0) throw new ApiError(400, 'unknown_exit', `exit '${exits[i]}' does not exist`, `${field}.${i}`);
}

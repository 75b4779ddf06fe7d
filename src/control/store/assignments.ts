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
  if (exits.length > 0) {
    const known = new Set((await trx.selectFrom('exits').select('id').where('id', 'in', [...exits]).execute()).map((r) => r.id));
    const i = exits.findIndex((e) => !known.has(e));
    if (i >= 0) throw new ApiError(400, 'unknown_exit', `exit '${exits[i]}' does not exist`, `body.exits.${i}`);
  }
  await trx.deleteFrom('customer_exits').where('customer_id', '=', customerId).execute();
  if (exits.length > 0) {
    await trx
      .insertInto('customer_exits')
      .values(exits.map((exit_id, position) => ({ customer_id: customerId, position, exit_id })))
      .execute();
  }
}

/** How many customers list each exit. */
export async function exitUse(db: Db): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('customer_exits')
    .select(['exit_id', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('exit_id')
    .execute();
  return new Map(rows.map((r) => [r.exit_id, Number(r.n)]));
}

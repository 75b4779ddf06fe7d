/** Settings (the ingress YAML's top-level keys other than users and exits), one row per key. */
import { SETTING_KEYS, type SettingKey } from '../api-schemas.js';
import { json } from './json-columns.js';
import { now, type Db, type RunChange } from './tx.js';

export type Settings = Partial<Record<SettingKey, unknown>>;

/** The stored settings, known keys only. */
export async function readSettings(db: Db): Promise<Settings> {
  const rows = await db.selectFrom('settings').selectAll().orderBy('key').execute();
  const out: Settings = {};
  for (const r of rows) if ((SETTING_KEYS as readonly string[]).includes(r.key)) out[r.key as SettingKey] = JSON.parse(r.value);
  return out;
}

export class SettingsRepo {
  constructor(
    private readonly db: Db,
    private readonly change: RunChange,
  ) {}

  get(db: Db = this.db): Promise<Settings> {
    return readSettings(db);
  }

  /** Set (value) or remove (null) settings keys, as one change. Values are validated by the caller. */
  async patch(patch: Settings, actor: string): Promise<void> {
    const keys = Object.keys(patch) as SettingKey[];
    if (keys.length === 0) return;
    await this.change(actor, async (trx, record) => {
      const t = now();
      for (const key of keys) {
        const value = patch[key];
        const existing = await trx.selectFrom('settings').select('key').where('key', '=', key).executeTakeFirst();
        if (value === null || value === undefined) {
          if (existing) {
            await trx.deleteFrom('settings').where('key', '=', key).execute();
            record('setting', key, 'delete');
          }
        } else if (existing) {
          await trx.updateTable('settings').set({ value: json(value), updated_at: t }).where('key', '=', key).execute();
          record('setting', key, 'update');
        } else {
          await trx.insertInto('settings').values({ key, value: json(value), updated_at: t }).execute();
          record('setting', key, 'create');
        }
      }
    });
  }
}

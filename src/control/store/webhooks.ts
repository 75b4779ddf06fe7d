/**
 * Webhooks: where events are sent (url, signing secret, kinds filter,
 * enabled). Not configuration of the ingresses: no revision bump.
 */
import { randomBytes } from 'node:crypto';
import { notFound } from '../errors.js';
import type { WebhookCreateInput, WebhookPatchInput } from '../events/webhook-schemas.js';
import type { WebhooksTable } from '../tables.js';
import { json, parseJson } from './json-columns.js';
import { newId, now, type Db } from './tx.js';

export interface WebhookRecord {
  readonly id: string;
  readonly url: string;
  readonly secret: string;
  readonly kinds: string[];
  readonly enabled: boolean;
  readonly description: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

function toRecord(r: WebhooksTable): WebhookRecord {
  return {
    id: r.id,
    url: r.url,
    secret: r.secret,
    kinds: parseJson<string[]>(r.kinds, []),
    enabled: Number(r.enabled) === 1,
    description: r.description,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A generated signing secret: 32 random bytes. */
export const generateWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64url')}`;

export class WebhookRepo {
  constructor(private readonly db: Db) {}

  async list(): Promise<WebhookRecord[]> {
    return (await this.db.selectFrom('webhooks').selectAll().orderBy('created_at').orderBy('id').execute()).map(toRecord);
  }

  async get(id: string): Promise<WebhookRecord | undefined> {
    const r = await this.db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toRecord(r) : undefined;
  }

  async create(input: WebhookCreateInput): Promise<WebhookRecord> {
    const t = now();
    const row: WebhooksTable = {
      id: newId('wh'),
      url: input.url,
      secret: input.secret ?? generateWebhookSecret(),
      kinds: json(input.kinds),
      enabled: input.enabled ? 1 : 0,
      description: input.description ?? null,
      created_at: t,
      updated_at: t,
    };
    await this.db.insertInto('webhooks').values(row).execute();
    return toRecord(row);
  }

  async update(id: string, patch: WebhookPatchInput): Promise<WebhookRecord> {
    const set: Partial<WebhooksTable> = { updated_at: now() };
    if (patch.url !== undefined) set.url = patch.url;
    if (patch.secret !== undefined) set.secret = patch.secret;
    if (patch.kinds !== undefined) set.kinds = json(patch.kinds);
    if (patch.enabled !== undefined) set.enabled = patch.enabled ? 1 : 0;
    if (patch.description !== undefined) set.description = patch.description;
    const r = await this.db.updateTable('webhooks').set(set).where('id', '=', id).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw notFound('webhook', id);
    return (await this.get(id))!;
  }

  /** Delete a webhook with its deliveries and their log. */
  async delete(id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('webhook_attempts').where('webhook_id', '=', id).execute();
      await trx.deleteFrom('webhook_deliveries').where('webhook_id', '=', id).execute();
      const r = await trx.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound('webhook', id);
    });
  }
}

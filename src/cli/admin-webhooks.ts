/** `hopgate webhooks add|list|delete|deliveries|redeliver`: where events go, over the control-plane API (docs/CONTROL.md "Events and webhooks"). */
import type { EventKind } from '../control/events/kinds.js';
import type { WebhookViewT } from '../control/events/webhook-schemas.js';
import { AdminError, COMMON_HELP, COMMON_OPTIONS, adminClient, printJson, table } from './admin-client.js';
import { parse } from './args.js';
import { processOutput, type CliOutput } from './output.js';

export const WEBHOOKS_USAGE = `usage: hopgate webhooks <add|list|delete|deliveries|redeliver> [ARG] [options]

  add URL [--kinds K,K…] [--secret S] [--description D] [--disabled]
                              send events to URL (http:// or https://), signed with S (generated and
                              printed once when not given); --kinds: only these (default: every kind)
  list                        every webhook: URL, kinds, enabled, deliveries pending/delivered/failed
  delete ID                   the webhook, its deliveries and their log
  deliveries ID [--limit N] [--event EVENT_ID]
                              its delivery log, newest attempt first: attempt, status, latency, error
  redeliver EVENT_ID [--webhook ID]
                              send an event again (to every webhook that wanted it, or one)

  event kinds: customer.created customer.updated customer.deleted customer.suspended customer.resumed
               exit.created exit.updated exit.deleted exit.down exit.up
               quota.warning quota.exceeded usage.minute

${COMMON_HELP}`;

type Kind = EventKind;
type Entry = { deliveryId: number; eventId: number; kind: string; state: string; attempt: number; at: string; statusCode: number | null; latencyMs: number; error: string | null };

export async function webhooksCommand(argv: string[], out: CliOutput = processOutput): Promise<void> {
  const { values, positionals } = parse(argv, {
    ...COMMON_OPTIONS,
    kinds: { type: 'string' },
    secret: { type: 'string' },
    description: { type: 'string' },
    disabled: { type: 'boolean', default: false },
    limit: { type: 'string' },
    event: { type: 'string' },
    webhook: { type: 'string' },
  });
  const [sub, arg] = positionals;
  if (values.help || sub === undefined || sub === 'help') {
    out.stdout(WEBHOOKS_USAGE);
    return;
  }
  const needArg = (what: string): string => {
    if (!arg) throw new AdminError(`webhooks ${sub}: ${what} is required\n${WEBHOOKS_USAGE}`);
    return arg;
  };
  const positive = (flag: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new AdminError(`--${flag} must be a positive integer (got '${v}')`);
    return Number(v);
  };
  const client = adminClient(values.control, values.token, values['state-dir']);
  switch (sub) {
    case 'add': {
      const kinds = values.kinds ? (values.kinds.split(',').map((k) => k.trim()).filter(Boolean) as Kind[]) : [];
      const body = { url: needArg('URL'), kinds, enabled: !values.disabled, ...(values.secret ? { secret: values.secret } : {}), ...(values.description ? { description: values.description } : {}) };
      const h = await client.request<WebhookViewT & { secret: string }>('POST', '/v1/webhooks', body);
      if (values.json) return printJson(out, h);
      out.stdout(`webhook ${h.id} → ${h.url} (${h.kinds.length === 0 ? 'every kind' : h.kinds.join(', ')}${h.enabled ? '' : ', disabled'})\n`);
      if (!values.secret) out.stdout(`signing secret (shown once): ${h.secret}\n`);
      return;
    }
    case 'list': {
      const { webhooks } = await client.request<{ webhooks: WebhookViewT[] }>('GET', '/v1/webhooks');
      if (values.json) return printJson(out, webhooks);
      out.stdout(
        webhooks.length === 0
          ? 'no webhooks\n'
          : table(
              ['ID', 'URL', 'KINDS', 'ENABLED', 'PENDING', 'DELIVERED', 'FAILED'],
              webhooks.map((h) => [h.id, h.url, h.kinds.length === 0 ? 'all' : h.kinds.join(','), h.enabled ? 'yes' : 'no', String(h.deliveries.pending), String(h.deliveries.delivered), String(h.deliveries.failed)]),
            ),
      );
      return;
    }
    case 'delete': {
      await client.request('DELETE', `/v1/webhooks/${encodeURIComponent(needArg('ID'))}`);
      if (values.json) return printJson(out, { deleted: arg });
      out.stdout(`webhook ${arg} deleted\n`);
      return;
    }
    case 'deliveries': {
      const q = new URLSearchParams();
      const limit = positive('limit', values.limit);
      const event = positive('event', values.event);
      if (limit !== undefined) q.set('limit', String(limit));
      if (event !== undefined) q.set('event', String(event));
      const { deliveries } = await client.request<{ deliveries: Entry[] }>('GET', `/v1/webhooks/${encodeURIComponent(needArg('ID'))}/deliveries${q.size ? `?${q.toString()}` : ''}`);
      if (values.json) return printJson(out, deliveries);
      out.stdout(
        deliveries.length === 0
          ? 'no deliveries yet\n'
          : table(
              ['AT', 'EVENT', 'KIND', 'ATTEMPT', 'STATUS', 'MS', 'STATE', 'ERROR'],
              deliveries.map((d) => [d.at, String(d.eventId), d.kind, String(d.attempt), d.statusCode === null ? '-' : String(d.statusCode), String(d.latencyMs), d.state, d.error ?? '']),
            ),
      );
      return;
    }
    case 'redeliver': {
      const id = positive('EVENT_ID', needArg('EVENT_ID'));
      const r = await client.request<{ deliveries: Array<{ webhookId: string; state: string }> }>('POST', `/v1/events/${id}/redeliver`, values.webhook ? { webhookId: values.webhook } : {});
      if (values.json) return printJson(out, r.deliveries);
      out.stdout(r.deliveries.length === 0 ? `event ${id}: no webhook wants it\n` : `event ${id} queued again for ${r.deliveries.map((d) => d.webhookId).join(', ')}\n`);
      return;
    }
    default:
      throw new AdminError(`webhooks: unknown subcommand '${sub}'\n${WEBHOOKS_USAGE}`);
  }
}

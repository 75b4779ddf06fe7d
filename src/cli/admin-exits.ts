/** `hopgate exits add|list|show|health|drain|undrain|token|link|link-key|link-token|link-pins|delete`: the exit inventory over the control-plane API. */
import type { ExitViewT } from '../control/api-schemas.js';
import { AdminError, COMMON_HELP, COMMON_OPTIONS, adminClient, printJson, table, type AdminClient } from './admin-client.js';
import { intFlag, parse } from './args.js';
import { sameFingerprint } from '../shared/fingerprint.js';
import { fetchHealthHistory, healthText } from './admin-exit-health.js';
import { processOutput, type CliOutput } from './output.js';
import { ingressQuality, linkText, qualityText, type IngressQuality } from './ingress-quality.js';

export const EXITS_USAGE = `usage: hopgate exits <add|list|show|health|drain|undrain|token|link|link-key|link-token|link-pins|delete> [ID] [options]

  add ID --host H --port P [--kind hopgate|socks5|http] [--username U] [--password P]
         [--egress-ip IP] [--egress-ip6 IPV6] [--country cc] [--state S] [--city C] [--asn N] [--tag T]...
                         --egress-ip6: its IPv6 egress (dual stack); IPv6 targets go only to exits with one
                         --username defaults to ingress for --kind hopgate (the login \`hopgate exit\` accepts)
         [--link-port P --link-fingerprint FP]   a hopgate exit's links (its --link-listen port and certificate)
  add ID --reverse [--from CIDR]... [--max-connections N]
         [--allow-target CIDR]... [--deny-target CIDR]... [--allow-port P]...
         [--egress-ip IP] [--country cc] [--link-fingerprint FP] …   an exit that dials the ingresses (behind NAT or a
                         firewall); prints its token (shown once) and the command to run it
  list                   every exit; with an ingress (--ingress URL, HOPGATE_INGRESS_ADMIN, or
                         the state dir's ingress.yaml from \`hopgate up\`) also its QUALITY score:
                         0-100 (success rate, probe latency), as that ingress measured it
  show ID
  health ID [--since 24h]  up/down transitions per ingress, probes (ok, failed, mean latency) per
                         minute or hour, each ingress's latest probe; --since 60m, 24h, 6d (at most
                         10,000 minutes), default 24h
  drain ID | undrain ID  stop / resume new connections through the exit
  token ID               a new token for a reverse exit (shown once; the old one stops working)
  link ID --fingerprint FP [--port P] | --off
                         pin the exit's link certificate (hopgate exit prints it); a hopgate exit
                         also needs its --link-listen port: ingresses then reach it over links;
                         a staged next key (link-key --next) stays pinned, unless FP is that key
  link-key ID --next FP | --retire | --cancel
                         rotate its link key: --next pins the new certificate beside the current
                         one; --retire, once the exit presents the new one, refuses the old;
                         --cancel drops the staged next key (the rotation abandoned)
  link-token ID          a hopgate exit's token for reading the ingresses' pins (shown once):
                         hopgate exit … --control URL --link-token-file F
  link-pins              the ingresses' link fingerprints the exits pin (current and next)
  delete ID [--force]    --force also takes it out of the customer lists that name it
                         (refused if it is a customer's only exit: an empty list means every exit)

${COMMON_HELP}`;

/** The pinned link key(s) of an exit, one line. */
export function linkLine(e: ExitViewT): string {
  if (!e.link) return 'none (the ingress uses its SOCKS5 port)';
  const at = e.link.port !== null ? `port ${e.link.port}, ` : '';
  return `${at}pinned ${e.link.fingerprint}${e.link.nextFingerprint ? `, next ${e.link.nextFingerprint} (rotating)` : ''}${e.link.tokenSet ? ', link token issued' : ''}`;
}

function address(e: ExitViewT): string {
  if (e.reverse) return `dials in${e.reverse.from.length > 0 ? ` from ${e.reverse.from.join(',')}` : ''}`;
  const host = e.host ?? '';
  return `${host.includes(':') ? `[${host}]` : host}:${e.port}${e.via.length > 0 ? ` via ${e.via.length}` : ''}`;
}

function rows(list: ExitViewT[], quality?: IngressQuality): string {
  const withQuality = quality?.ok === true;
  const text = table(
    ['ID', 'KIND', 'ADDRESS', 'EGRESS', 'PLACE', 'TAGS', 'CUSTOMERS', 'STATE', ...(withQuality ? ['QUALITY', 'LINKS'] : [])],
    list.map((e) => [
      e.id,
      e.kind,
      address(e),
      [e.egressIp, e.egressIp6].filter((x) => x !== null).join(' ') || '-',
      [e.country, e.state, e.city, e.asn !== null ? `AS${e.asn}` : null].filter((x) => x !== null).join('/') || '-',
      e.tags.join(',') || '-',
      String(e.customers),
      e.drain ? 'draining' : 'active',
      ...(quality?.ok === true ? [qualityText(quality.byId.get(e.id)), linkText(quality.byId.get(e.id))] : []),
    ]),
  );
  if (quality?.ok === true) return `${text}(quality as measured by the ingress at ${quality.from})\n`;
  if (quality?.ok === false) return `${text}(no quality: the ingress at ${quality.from} did not answer: ${quality.reason})\n`;
  return text;
}

/** The ingress tunnel address exits dial, as the settings say (a wildcard host, or no answer, becomes a placeholder). */
async function tunnelAddress(client: AdminClient): Promise<string> {
  try {
    const { settings } = await client.request<{ settings: { reverse?: { listen?: { host?: string; port?: number } } } }>('GET', '/v1/settings');
    const listen = settings.reverse?.listen ?? {};
    const host = listen.host === undefined ? '127.0.0.1' : listen.host === '0.0.0.0' || listen.host === '::' ? 'INGRESS-HOST' : listen.host;
    return `${host.includes(':') ? `[${host}]` : host}:${listen.port ?? 7443}`;
  } catch {
    return 'INGRESS-HOST:7443';
  }
}

/** The token first (it is shown once: nothing that can fail comes before it), then how to run the exit. */
async function printToken(out: CliOutput, client: AdminClient, id: string, token: string): Promise<void> {
  out.stdout(`token: ${token}\n(shown once: only its hash is stored; 'hopgate exits token ${id}' makes a new one)\n`);
  const connectTo = await tunnelAddress(client);
  out.stdout(
    [
      'run it inside the exit\'s network (it opens no port; --ca: the certificate the ingress tunnel port presents):',
      `  HOPGATE_EXIT_TOKEN='${token}' hopgate exit --connect-to ${connectTo} --id ${id} --ca CERT.pem`,
      '',
    ].join('\n'),
  );
}

export async function exitsCommand(argv: string[], out: CliOutput = processOutput): Promise<void> {
  const { values, positionals } = parse(argv, {
    ...COMMON_OPTIONS,
    host: { type: 'string' },
    port: { type: 'string' },
    kind: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    'egress-ip': { type: 'string' },
    'egress-ip6': { type: 'string' },
    country: { type: 'string' },
    state: { type: 'string' },
    city: { type: 'string' },
    asn: { type: 'string' },
    tag: { type: 'string', multiple: true },
    reverse: { type: 'boolean', default: false },
    from: { type: 'string', multiple: true },
    'max-connections': { type: 'string' },
    'allow-target': { type: 'string', multiple: true },
    'deny-target': { type: 'string', multiple: true },
    'allow-port': { type: 'string', multiple: true },
    force: { type: 'boolean', default: false },
    ingress: { type: 'string' },
    since: { type: 'string', default: '24h' },
    'link-port': { type: 'string' },
    'link-fingerprint': { type: 'string' },
    fingerprint: { type: 'string' },
    off: { type: 'boolean', default: false },
    next: { type: 'string' },
    retire: { type: 'boolean', default: false },
    cancel: { type: 'boolean', default: false },
  });
  const [sub, id] = positionals;
  if (values.help || sub === undefined || sub === 'help') {
    out.stdout(EXITS_USAGE);
    return;
  }
  const needId = (): string => {
    if (!id) throw new AdminError(`exits ${sub}: ID is required`);
    return id;
  };
  const client = adminClient(values.control, values.token, values['state-dir']);
  const path = (): string => `/v1/exits/${encodeURIComponent(needId())}`;
  // A whole number given: decimal digits in range, checked here (one line, exit 2) rather than sent as NaN or 0x50 for the API to refuse.
  const whole = (flag: 'port' | 'link-port' | 'max-connections' | 'asn', min: number, max: number, what: string): number | undefined => {
    const v = values[flag];
    return v === undefined ? undefined : intFlag(`--${flag}`, v, min, max, what);
  };
  switch (sub) {
    case 'add': {
      const reverse = values.reverse || values.kind === 'reverse';
      const port = whole('port', 1, 65535, "the exit's SOCKS5 port");
      const linkPort = whole('link-port', 1, 65535, "the exit's --link-listen port");
      // The ingress configuration's bound on a reverse exit (ReverseExitSchema): more would not render.
      const maxConnections = whole('max-connections', 1, 100_000, 'links and work connections at once');
      const asn = whole('asn', 1, 4_294_967_295, 'an AS number');
      const allowPorts = (values['allow-port'] ?? []).map((p) => intFlag('--allow-port', p, 1, 65535, 'a target port'));
      if (!reverse && (!values.host || !values.port)) throw new AdminError('exits add: --host and --port are required (or --reverse for an exit that dials in)');
      const place = {
        ...(values['egress-ip'] ? { egressIp: values['egress-ip'] } : {}),
        ...(values['egress-ip6'] ? { egressIp6: values['egress-ip6'] } : {}),
        ...(values.country ? { country: values.country } : {}),
        ...(values.state ? { state: values.state } : {}),
        ...(values.city ? { city: values.city } : {}),
        ...(asn !== undefined ? { asn } : {}),
        ...(values.tag ? { tags: values.tag } : {}),
      };
      const targets = values['allow-target'] || values['deny-target'] || values['allow-port']
        ? { targets: { allow: values['allow-target'] ?? [], deny: values['deny-target'] ?? [], ports: allowPorts } }
        : {};
      const body = reverse
        ? {
            id: needId(),
            kind: 'reverse',
            ...(values.from ? { from: values.from } : {}),
            ...(maxConnections !== undefined ? { maxConnections } : {}),
            ...targets,
            ...(values['link-fingerprint'] ? { linkFingerprint: values['link-fingerprint'] } : {}),
            ...place,
          }
        : {
            id: needId(),
            host: values.host,
            port,
            ...(values.kind ? { kind: values.kind } : {}),
            ...(values.username ? { username: values.username } : {}),
            ...(values.password ? { password: values.password } : {}),
            ...(values['link-port'] || values['link-fingerprint'] ? { link: { port: linkPort, fingerprint: values['link-fingerprint'] } } : {}),
            ...place,
          };
      const e = await client.request<ExitViewT & { token?: string }>('POST', '/v1/exits', body);
      if (values.json) return printJson(out, e);
      out.stdout(`exit ${e.id} added${e.reverse ? ' (reverse: it dials the ingress tunnel port)' : ''}\n`);
      if (e.token) await printToken(out, client, e.id, e.token);
      return;
    }
    case 'token': {
      const r = await client.request<{ token: string }>('POST', `${path()}/token`);
      if (values.json) return printJson(out, { id, token: r.token });
      out.stdout(`new token for exit ${id}\n`);
      await printToken(out, client, id!, r.token);
      return;
    }
    case 'link': {
      const portArg = whole('port', 1, 65535, "the exit's --link-listen port");
      const cur = await client.request<ExitViewT>('GET', path());
      if (!values.off && !values.fingerprint) throw new AdminError('exits link: --fingerprint FP (and --port P for a hopgate exit), or --off');
      const port = portArg ?? cur.link?.port ?? undefined;
      // A staged next key (a rotation in progress) stays pinned: the API replaces the link whole, and
      // dropping it would refuse the exit's links once it promotes. Pinned as the current one, it is the only pin.
      const staged = cur.link?.nextFingerprint ?? null;
      const next = values.off || staged === null || (values.fingerprint !== undefined && sameFingerprint(staged, values.fingerprint)) ? null : staged;
      const body = cur.reverse
        ? { linkFingerprint: values.off ? null : values.fingerprint, nextLinkFingerprint: next }
        : { link: values.off ? null : { port, fingerprint: values.fingerprint, ...(next !== null ? { nextFingerprint: next } : {}) } };
      if (!cur.reverse && !values.off && port === undefined) throw new AdminError('exits link: --port P (the exit\'s --link-listen port)');
      const e = await client.request<ExitViewT>('PATCH', path(), body);
      if (values.json) return printJson(out, e);
      out.stdout(`exit ${e.id}: ${linkLine(e)}\n`);
      // Said plainly: an operator re-pinning may not know a rotation is under way, and the staged key is also accepted.
      if (next !== null) out.stdout(`the staged next key ${next} kept (a key rotation in progress): hopgate exits link-key ${e.id} --retire once the exit presents it, or --cancel to drop it\n`);
      return;
    }
    case 'link-key': {
      if ([Boolean(values.next), values.retire, values.cancel].filter(Boolean).length !== 1) throw new AdminError('exits link-key: --next FINGERPRINT, --retire or --cancel');
      if (values.cancel) {
        // The API replaces the link whole: the current pin (and a hopgate exit's port) again, without the next key.
        const cur = await client.request<ExitViewT>('GET', path());
        if (!cur.link?.nextFingerprint) throw new AdminError(`exits link-key: exit ${cur.id} has no staged next link key (nothing to cancel)`);
        const body = cur.reverse
          ? { nextLinkFingerprint: null }
          : { link: { port: cur.link.port, fingerprint: cur.link.fingerprint } };
        const e = await client.request<ExitViewT>('PATCH', path(), body);
        if (values.json) return printJson(out, e);
        out.stdout(`exit ${e.id}: rotation cancelled, ${linkLine(e)}\n`);
        return;
      }
      const e = values.retire
        ? await client.request<ExitViewT>('POST', `${path()}/link-key/retire`)
        : await client.request<ExitViewT>('POST', `${path()}/link-key`, { fingerprint: values.next });
      if (values.json) return printJson(out, e);
      out.stdout(`exit ${e.id}: ${linkLine(e)}\n`);
      return;
    }
    case 'link-token': {
      const r = await client.request<{ token: string }>('POST', `${path()}/link-token`);
      if (values.json) return printJson(out, { id, token: r.token });
      out.stdout(`link token for exit ${id} (shown once; the previous one stops working):\n${r.token}\n`);
      out.stdout(`run the exit with: hopgate exit … --link-listen H:P --control ${client.baseUrl} --link-token-file FILE\n`);
      return;
    }
    case 'link-pins': {
      const r = await client.request<{ fingerprints: string[] }>('GET', '/v1/link-pins');
      if (values.json) return printJson(out, r);
      out.stdout(r.fingerprints.length > 0 ? r.fingerprints.join('\n') + '\n' : 'no ingress has reported a link fingerprint yet\n');
      return;
    }
    case 'list': {
      const { exits } = await client.request<{ exits: ExitViewT[] }>('GET', '/v1/exits');
      const quality = await ingressQuality(values.ingress, values['state-dir']);
      // `link`: the pins (control plane) and, measured by the ingress, the live links' figures (docs/ROUTING.md).
      const merged = (e: ExitViewT) => {
        const live = quality?.ok ? quality.byId.get(e.id)?.link : undefined;
        return { ...e, quality: quality?.ok ? (quality.byId.get(e.id)?.quality ?? null) : null, link: live ? { ...(e.link ?? {}), ...live } : e.link };
      };
      if (values.json) return printJson(out, quality?.ok ? exits.map(merged) : exits);
      out.stdout(exits.length > 0 ? rows(exits, quality) : 'no exits\n');
      return;
    }
    case 'show': {
      const e = await client.request<ExitViewT>('GET', path());
      const quality = await ingressQuality(values.ingress, values['state-dir']);
      if (values.json) return printJson(out, quality?.ok ? { ...e, quality: quality.byId.get(e.id)?.quality ?? null } : e);
      out.stdout(rows([e], quality) + `link: ${linkLine(e)}\n`);
      return;
    }
    case 'health': {
      const h = await fetchHealthHistory(client, needId(), values.since);
      if (values.json) return printJson(out, h);
      out.stdout(healthText(h));
      return;
    }
    case 'drain':
    case 'undrain': {
      const e = await client.request<ExitViewT>('PATCH', path(), { drain: sub === 'drain' });
      if (values.json) return printJson(out, e);
      out.stdout(`exit ${e.id} ${e.drain ? 'is draining: no new connections' : 'takes connections again'}\n`);
      return;
    }
    case 'delete': {
      await client.request('DELETE', `${path()}${values.force ? '?force=true' : ''}`);
      if (values.json) return printJson(out, { deleted: id });
      out.stdout(`exit ${id} deleted\n`);
      return;
    }
    default:
      throw new AdminError(`exits: unknown subcommand '${sub}'\n${EXITS_USAGE}`);
  }
}

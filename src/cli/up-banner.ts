/**
 * What `hopgate up` prints once everything listens: the JSON contract (`--json`) and the human banner.
 * Its own module so the banner's test loads no server code (up.ts imports the whole network, ~1.5 s of CPU).
 */

export interface UpContract {
  ingress: { host: string; ports: [number, number]; tls: boolean; tlsCert?: string };
  users: Array<{ username: string; password: string }>;
  /** `kind`: hopgate (the ingress dials it) or reverse (it dials the ingress's tunnel port). */
  /** `link`: the ingress reaches this exit over links (TLS, pinned both ways; docs/EXITS.md) on this port. */
  exits: Array<{ id: string; egressIp: string; egressIp6?: string; country: string; kind: 'hopgate' | 'reverse'; link?: { port: number; fingerprint: string } }>;
  control: { url: string; adminToken: string } | null;
  demoTarget?: string;
  /** The same demo target on IPv6 loopback (same port), when this host has ::1: IPv6 targets to try. */
  demoTarget6?: string;
}

export function humanBanner(c: UpContract, workers: number): string {
  const { host, ports } = c.ingress;
  const u = c.users[0]!;
  const cred = `${u.username}:${u.password}`;
  const target = c.demoTarget ?? 'http://example.com/';
  const lines = [
    `hopgate is up — ingress ${host}:${ports[0]}-${ports[1]} (${workers} worker${workers > 1 ? 's' : ''}): HTTP, HTTPS, SOCKS4/4a and SOCKS5 on every port`,
    `demo user: ${u.username}  password: ${u.password}`,
    '',
    'try it:',
    `  curl -x http://${cred}@${host}:${ports[0]} ${target}`,
    `  curl -x socks5h://${cred}@${host}:${ports[0]} ${target}`,
    // SOCKS4 has no password field: the userid carries `user:password`, so curl needs the colon encoded.
    `  curl -x socks4a://${u.username}%3A${u.password}@${host}:${ports[0]} ${target}`,
  ];
  if (c.demoTarget6) lines.push(`  curl -x http://${cred}@${host}:${ports[0]} ${c.demoTarget6}        # an IPv6 target: an exit's IPv6 egress`);
  if (c.ingress.tlsCert) lines.push(`  curl --proxy-cacert ${c.ingress.tlsCert} -x https://${cred}@${host}:${ports[0]} ${target}`);
  if (c.exits.length > 0) {
    lines.push('', `exits: port ${ports[0]} picks a random one per connection; each has its own port:`);
    c.exits.forEach((e, i) => lines.push(`  ${String(ports[0] + i + 1).padEnd(6)} ${e.id.padEnd(6)} ${e.egressIp.padEnd(11)} ${e.country}${e.kind === 'reverse' ? '   reverse: it dialled in, the ingress never connects to it' : ''}`));
    if (c.exits.some((e) => e.link)) lines.push(`  (the ingress reaches the hopgate exits over links: TLS, pinned both ways, many tunnels per connection)`);
    if (c.exits.some((e) => e.egressIp6)) lines.push(`  (each also leaves from ${c.exits.find((e) => e.egressIp6)!.egressIp6} for IPv6 targets)`);
    lines.push(
      '',
      'or choose in the username (country, exit IP, sticky session):',
      `  curl -x http://${cred}@${host}:${ports[0] + 3} ${target}`,
      `  curl -x http://${u.username}-country-de:${u.password}@${host}:${ports[0]} ${target}`,
      `  curl -x socks5h://${u.username}-exitip-${c.exits[0]!.egressIp}:${u.password}@${host}:${ports[0]} ${target}`,
      `  curl -x socks5h://${u.username}-session-a1b2-sesstime-10:${u.password}@${host}:${ports[0]} ${target}`,
      `  ./hopgate ports ${u.username}      # the port table with live health (./hopgate: the CLI, from this folder)`,
    );
  }
  if (c.control) {
    lines.push(
      '',
      `control plane: ${c.control.url} (operator token in .hopgate/control-admin-token; the ingress follows it live)`,
      `  dashboard: ${c.control.url}/dashboard   (log in with the operator token, or as a customer: ${u.username} and its password)`,
      '  ./hopgate user add alice --exit de-1       # a customer, in force at the ingress at once',
      '  ./hopgate usage demo --by minute            # usage per minute and exit (pulled every 5 s)',
    );
  }
  lines.push('', 'Ctrl-C stops it. `hopgate up --json` prints this as JSON for scripts.', '');
  return lines.join('\n');
}

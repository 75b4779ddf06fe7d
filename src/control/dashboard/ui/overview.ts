/** Overview (operator): revision, counts, the last hour's traffic, ingress nodes. */
import { api } from './api.js';
import type { CustomerList, ExitList, NodeList, Revision, UsageList } from './api-types.js';
import { badge, render, stats, table } from './dom.js';
import { ago, bytes } from './format.js';

export async function overviewPage(): Promise<void> {
  const [rev, nodes, customers, suspendedList, exits, usage] = await Promise.all([
    api<Revision>('GET', '/v1/revision'),
    api<NodeList>('GET', '/v1/ingress-nodes'),
    api<CustomerList>('GET', '/v1/customers?limit=1'), // counts only: total
    api<CustomerList>('GET', '/v1/customers?limit=1&status=suspended'),
    api<ExitList>('GET', '/v1/exits'),
    api<UsageList>('GET', '/v1/usage?by=minute'),
  ]);
  const suspended = suspendedList.total;
  const drained = exits.exits.filter((e) => e.drain).length;
  const t = usage.totals;
  render('overview-stats', [rev, customers.total, suspended, exits.exits.length, drained, t], () =>
    stats([
      ['Revision', String(rev.revision)],
      ['Customers', `${customers.total}${suspended ? ` (${suspended} suspended)` : ''}`],
      ['Exits', `${exits.exits.length}${drained ? ` (${drained} drained)` : ''}`],
      ['Usage, last hour', `${bytes(t.bytesDown)} down, ${bytes(t.bytesUp)} up, ${t.connections} connections, ${t.failures} failed`],
    ]),
  );
  render(
    'overview-nodes',
    nodes.nodes,
    (ns) =>
      table(
        ['Id', 'Name', 'Acked revision', 'Last seen', 'Stats pulled', 'Admin URL', 'Token'],
        ns.map((n) => [
          n.id,
          n.name,
          n.ackedRevision === null ? '–' : [String(n.ackedRevision), n.ackedRevision < rev.revision ? badge('behind', 'warn') : badge('current', 'good')],
          ago(n.lastSeenAt),
          ago(n.statsPulledAt),
          n.adminUrl ?? '–',
          n.tokenSet ? 'issued' : 'none',
        ]),
        'No ingress nodes registered.',
      ),
    true,
  );
}

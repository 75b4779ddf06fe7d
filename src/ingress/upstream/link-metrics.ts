/** /metrics of the links to exits (upstream/link-pool.ts), per exit: links up, streams open, links opened and broken, heartbeat RTT, payload bytes each way, window stalls, UDP datagrams. */
import { Gauge, type Registry } from 'prom-client';
import type { ExitLinks, LinkPools } from './link-pool.js';

export function registerLinkMetrics(registry: Registry, pools: LinkPools): void {
  // Summed over worker processes (processes/cluster-metrics.ts), but for the round trip: their average.
  const perExit = (name: string, help: string, read: (p: ExitLinks) => number | undefined, aggregator: 'sum' | 'average' = 'sum'): void => {
    new Gauge({
      name,
      help,
      aggregator,
      labelNames: ['exit'],
      registers: [registry],
      collect() {
        this.reset(); // exits gone since the last scrape leave no stale series
        for (const p of pools.all()) {
          const v = read(p);
          if (v !== undefined) this.set({ exit: p.exit.id }, v);
        }
      },
    });
  };
  perExit('hopgate_ingress_links', 'Links up to each hopgate exit', (p) => p.linkCount);
  perExit('hopgate_ingress_link_streams', 'Tunnels open on the links to each exit', (p) => p.streamCount);
  perExit('hopgate_ingress_link_connects', 'Links opened to each exit since this process started (reconnects included)', (p) => p.connects);
  perExit('hopgate_ingress_link_breaks', 'Links to each exit that broke (not drained) since this process started', (p) => p.breaks);
  perExit('hopgate_ingress_link_sent_bytes', 'Tunnel payload bytes sent to each exit over its links since this process started', (p) => p.totals.bytesSent);
  perExit('hopgate_ingress_link_received_bytes', 'Tunnel payload bytes received from each exit over its links since this process started', (p) => p.totals.bytesReceived);
  perExit('hopgate_ingress_link_window_stalls', "Times a tunnel to each exit had bytes to send and no credit left (the exit's side read slower than we sent)", (p) => p.totals.windowStalls);
  perExit('hopgate_ingress_link_datagrams_sent', 'UDP datagrams sent to each exit over its links (UDP associations) since this process started', (p) => p.totals.datagramsSent);
  perExit('hopgate_ingress_link_datagrams_received', 'UDP datagrams (replies) received from each exit over its links since this process started', (p) => p.totals.datagramsReceived);
  perExit('hopgate_ingress_link_datagrams_dropped', 'UDP datagrams to each exit dropped at a full queue (the link was behind) since this process started', (p) => p.totals.datagramsDropped);
  perExit('hopgate_ingress_link_rtt_seconds', 'Last heartbeat round trip on a link to each exit', (p) => (p.rttMs === undefined ? undefined : p.rttMs / 1000), 'average');
}

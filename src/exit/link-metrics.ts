/**
 * A forward exit's links in its own /metrics (`hopgate exit --link-listen … --admin PORT`):
 * links and streams open now, what the links did (opened, broken, refused; streams served
 * or failed), payload bytes each way, window stalls and UDP datagrams — read from the listener at scrape time.
 */
import { Gauge, type Registry } from 'prom-client';
import { mirroredCounter } from '../shared/mirrored-counter.js';
import type { ExitLinkListener } from './link-listener.js';

export function registerExitLinkMetrics(registry: Registry, links: ExitLinkListener): void {
  new Gauge({ name: 'hopgate_exit_link_open', help: 'Links from ingresses open now', registers: [registry], collect() { this.set(links.linkCount); } });
  new Gauge({ name: 'hopgate_exit_link_streams', help: 'Tunnels (streams) open now over every link', registers: [registry], collect() { this.set(links.streamCount); } });
  const c = links.counters;
  mirroredCounter(registry, 'hopgate_exit_link_connections_total', 'Links by how they went: accepted, broken (lost, heartbeat, protocol error; not drained), refused (TLS pin or source)', 'outcome', () => ({ accepted: c.links, broken: c.brokenLinks, refused: c.refusedLinks }));
  mirroredCounter(registry, 'hopgate_exit_link_streams_total', 'Streams the ingresses opened, by outcome: served (connected to the target) or failed (refused or unreachable)', 'outcome', () => ({ served: c.served, failed: c.failed }));
  mirroredCounter(registry, 'hopgate_exit_link_bytes_total', 'Payload bytes over links by direction: sent to the ingresses, received from them', 'direction', () => {
    const t = links.traffic();
    return { sent: t.bytesSent, received: t.bytesReceived };
  });
  mirroredCounter(registry, 'hopgate_exit_link_udp_streams_total', 'UDP associations the ingresses opened over links (one stream each)', undefined, () => ({ '': c.udpStreams }));
  mirroredCounter(registry, 'hopgate_exit_link_datagrams_total', "UDP datagrams of links' associations: out (received from the ingresses, refused ones included), back (replies to the ingresses), refused (target forbidden or unresolvable, or over the UDP payload limit: dropped), dropped (a full queue to the ingress)", 'outcome', () => ({
    out: c.datagramsOut,
    back: c.datagramsBack,
    refused: c.datagramsRefused,
    dropped: links.traffic().datagramsDropped,
  }));
  mirroredCounter(registry, 'hopgate_exit_link_window_stalls_total', 'Times a stream had data to send and no credit from the ingress (its client reads slower than the target sends)', undefined, () => ({ '': links.traffic().windowStalls }));
}

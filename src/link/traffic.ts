/**
 * Payload bytes and window stalls over a set of links that come and go (an ingress's
 * pool to one exit, an exit's listener): closed links' figures are kept when they
 * retire, live ones are read at the time, so the totals never go down.
 */
import type { LinkSession } from './session.js';

export interface LinkTrafficFigures {
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly windowStalls: number;
  /** Datagrams of UDP streams: sent, received, and dropped at a full queue (the link's connection behind). */
  readonly datagramsSent: number;
  readonly datagramsReceived: number;
  readonly datagramsDropped: number;
}

type Figures = { -readonly [K in keyof LinkTrafficFigures]: number };

function add(to: Figures, s: LinkSession): void {
  to.bytesSent += s.bytesSent;
  to.bytesReceived += s.bytesReceived;
  to.windowStalls += s.windowStalls;
  to.datagramsSent += s.datagrams.sent;
  to.datagramsReceived += s.datagrams.received;
  to.datagramsDropped += s.datagrams.dropped;
}

export class LinkTraffic {
  private readonly retired: Figures = { bytesSent: 0, bytesReceived: 0, windowStalls: 0, datagramsSent: 0, datagramsReceived: 0, datagramsDropped: 0 };

  /** A link has closed: keep what it carried. */
  retire(s: LinkSession): void {
    add(this.retired, s);
  }

  /** The retired links' figures plus those of `live`. */
  totals(live: Iterable<LinkSession>): LinkTrafficFigures {
    const out = { ...this.retired };
    for (const s of live) add(out, s);
    return out;
  }
}

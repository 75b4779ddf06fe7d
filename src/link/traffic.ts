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
}

export class LinkTraffic {
  private bytesSent = 0;
  private bytesReceived = 0;
  private windowStalls = 0;

  /** A link has closed: keep what it carried. */
  retire(s: LinkSession): void {
    this.bytesSent += s.bytesSent;
    this.bytesReceived += s.bytesReceived;
    this.windowStalls += s.windowStalls;
  }

  /** The retired links' figures plus those of `live`. */
  totals(live: Iterable<LinkSession>): LinkTrafficFigures {
    let { bytesSent, bytesReceived, windowStalls } = this;
    for (const s of live) {
      bytesSent += s.bytesSent;
      bytesReceived += s.bytesReceived;
      windowStalls += s.windowStalls;
    }
    return { bytesSent, bytesReceived, windowStalls };
  }
}

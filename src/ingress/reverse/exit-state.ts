/**
 * One reverse exit's state at this ingress process (registry.ts): its work connections,
 * links, waiting requests, the certificates they came with and its link figures.
 */
import { ProxyError } from '../../shared/errors.js';
import { CidrSet } from '../../shared/net-addr.js';
import type { ReverseExitConfig } from '../../shared/schema/ingress-config.js';
import { LinkSession } from '../../link/session.js';
import { isPinned, pinsOf } from '../../link/identity.js';
import { LinkTraffic } from '../../link/traffic.js';
import { exitLinkFigures, type ExitLinkFigures } from '../route/exit-report.js';
import type { WorkConn } from './work-conn.js';

/** The link certificates a reverse exit may present. */
export const linkPins = (c: ReverseExitConfig): string[] | undefined => pinsOf(c.linkFingerprint, c.nextLinkFingerprint);

/** What a request for a reverse exit gets: a link to open a stream on, or an idle work connection (older exits). */
export type ReverseCarrier = WorkConn | LinkSession;

export interface Waiter {
  resolve(c: ReverseCarrier): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export function dropWaiters(st: { waiters: Waiter[] }, why: string): boolean {
  const had = st.waiters.length > 0;
  for (const w of st.waiters.splice(0)) {
    clearTimeout(w.timer);
    w.reject(new ProxyError('EXIT_UNREACHABLE', why));
  }
  return had;
}

export interface ReverseExitStats {
  readonly idle: number;
  readonly busy: number;
  readonly waiting: number;
  readonly links: number;
  readonly streams: number;
  /** Datagrams of UDP associations over its links (closed links' included), and those dropped here before leaving. */
  readonly datagrams: { readonly sent: number; readonly received: number; readonly dropped: number; readonly refused: number };
}

export class ExitState {
  readonly idle = new Set<WorkConn>();
  /** Every registered connection of this exit, idle or carrying a tunnel. */
  readonly live = new Set<WorkConn>();
  readonly waiters: Waiter[] = [];
  /** Links of this exit (exits that registered with `link`): each carries many tunnels; draining ones are out. */
  readonly links = new Set<LinkSession>();
  /** Every link of this exit until it closes (draining ones too), and what closed ones carried: `hopgate exits` figures. */
  readonly openLinks = new Set<LinkSession>();
  readonly linkTraffic = new LinkTraffic();
  linkConnects = 0;
  linkBreaks = 0;
  /** Datagrams of its UDP associations dropped here: a port or literal address outside its `targets:` (the ingress's own policy refuses before, uncounted here). */
  udpRefused = 0;
  /** The certificate each link and registered connection came with: a retired key's are let go. */
  readonly peers = new Map<LinkSession | WorkConn, string>();
  /** The certificate each open link came with, kept while it drains (peers lets a retired key's go): which keys still carry tunnels. */
  readonly linkKeys = new WeakMap<LinkSession, string>();
  /** Links that refused a UDP open as an exit from before UDP streams does: not asked again (a new link is). */
  readonly noUdp = new WeakSet<LinkSession>();
  /** HMAC of the last token that verified against `config.tokenHash` (scrypt paid once). */
  verifiedMac: Buffer | undefined;
  from: CidrSet;
  constructor(public config: ReverseExitConfig) {
    this.from = new CidrSet(config.from);
  }

  /**
   * Whether a UDP association may be routed to it now (capabilities.ts asks through the registry):
   * only links carry UDP. Connected here by work connections alone (the older protocol), or only by
   * links that refused a UDP open (an exit from before UDP streams): no.
   * Nothing here: not refused for UDP — it is down (the dial says EXIT_UNREACHABLE), or, in a
   * cluster worker, its links are elsewhere and one is moved here (openReverseDatagrams decides).
   */
  carriesUdp(): boolean {
    let older = false;
    for (const l of this.links) {
      if (l.draining || l.broken) continue;
      if (!this.noUdp.has(l)) return true;
      older = true;
    }
    return !older && this.live.size === 0;
  }

  /**
   * A key rotation retired a key: its idle connections close, its links drain (TCP streams finish;
   * UDP associations end, draining links' too: each datagram may go to a new target). True if any went.
   */
  dropUnpinned(): boolean {
    const pins = linkPins(this.config);
    if (!pins) return false;
    let dropped = false;
    for (const [peer, fp] of this.peers) {
      if (isPinned(fp, pins)) continue;
      this.peers.delete(peer);
      dropped = true;
      if (peer instanceof LinkSession) {
        this.links.delete(peer);
        peer.drain('exit key retired');
        peer.endDatagramStreams('exit key retired');
      } else if (this.idle.has(peer)) peer.fail('exit key retired');
    }
    return dropped;
  }

  /**
   * GOAWAY on every link: its live streams finish, new ones go elsewhere (the exit dials anew).
   * `cut`: the exit's credentials changed or it left the configuration — UDP associations end too.
   * True if a link stopped taking streams.
   */
  drainLinks(why: string, cut = false): boolean {
    if (cut) this.endUdp(why);
    if (this.links.size === 0) return false;
    for (const l of [...this.links]) {
      this.links.delete(l);
      l.drain(why);
    }
    return true;
  }

  /** End the UDP associations on every open link, draining ones too (they were judged by a rule no longer in force). */
  endUdp(why: string): void {
    for (const l of this.openLinks) l.endDatagramStreams(why);
  }

  /** Its figures for /metrics (registry.stats). */
  stats(): ReverseExitStats {
    let streams = 0;
    for (const l of this.links) streams += l.streamCount;
    const t = this.linkTraffic.totals(this.openLinks);
    const datagrams = { sent: t.datagramsSent, received: t.datagramsReceived, dropped: t.datagramsDropped, refused: this.udpRefused };
    return { idle: this.idle.size, busy: this.live.size - this.idle.size, waiting: this.waiters.length, links: this.links.size, streams, datagrams };
  }

  /** Its links as `hopgate exits` shows them; null before its first link. */
  linkFigures(): ExitLinkFigures | null {
    if (this.linkConnects === 0) return null;
    let streams = 0;
    let rttMs: number | null = null;
    for (const l of this.links) {
      streams += l.streamCount;
      rttMs ??= l.rttMs ?? null;
    }
    return exitLinkFigures({ links: this.links.size, streams, rttMs, connects: this.linkConnects, breaks: this.linkBreaks }, this.linkTraffic.totals(this.openLinks));
  }
}

/**
 * A UDP stream of a link (issue 19): one UDP association, its datagrams
 * relayed from one socket per egress family of this exit. Each target is
 * judged as a TCP stream's would be — the exit's target policy on the
 * resolved addresses and the customer's networks the ingress sent — and a
 * refused datagram (or one over the UDP payload limit, 65,507 bytes) is dropped
 * and counted (UDP has no error to answer with).
 * Replies come only from targets the association sent to. The socket closes
 * when the stream ends, is reset, breaks with its link, or idles.
 * Forward exits' links and reverse exits' links alike.
 */
import type { LinkStream } from '../link/stream.js';
import type { TargetAddress } from '../protocol/address.js';
import { CidrSet } from '../shared/net-addr.js';
import { LIMITS } from '../shared/limits.js';
import type { EgressAddresses } from '../shared/net/happy-eyeballs.js';
import type { TargetPolicy } from '../shared/net/target-policy.js';
import { openDirectWayOut } from '../shared/net/udp-direct.js';

export interface UdpRelayOptions {
  readonly egress: EgressAddresses;
  readonly policy: TargetPolicy;
  /** The customer's networks (a reverse exit's OPEN carries the ingress's rule): only these… */
  readonly allowNets?: readonly string[];
  /** …and never these. */
  readonly denyNets?: readonly string[];
  /** The association ends after this long without a datagram either way. */
  readonly idleMs: number;
}

/** What an exit's UDP streams did, for its metrics and tests. */
export interface UdpRelayCounters {
  udpStreams: number;
  /** Datagrams the ingress handed over to send (refused ones included), and replies sent back. */
  datagramsOut: number;
  datagramsBack: number;
  /** Datagrams dropped: forbidden target (policy or the customer's networks), no address, too many peers, over the UDP payload limit. */
  datagramsRefused: number;
}

export function newUdpRelayCounters(): UdpRelayCounters {
  return { udpStreams: 0, datagramsOut: 0, datagramsBack: 0, datagramsRefused: 0 };
}

/** Serve one UDP stream: bind, answer with the bind address, relay until it ends. */
export async function relayUdpStream(stream: LinkStream, o: UdpRelayOptions, counters: UdpRelayCounters): Promise<void> {
  counters.udpStreams++;
  const allow = o.allowNets?.length ? new CidrSet(o.allowNets) : undefined;
  const deny = o.denyNets?.length ? new CidrSet(o.denyNets) : undefined;
  let wayOut;
  try {
    wayOut = await openDirectWayOut(o.egress, o.policy, {
      allowed: allow || deny ? (a) => !deny?.hasText(a) && (!allow || allow.hasText(a)) : undefined,
      // Counted, not logged: a customer could send thousands a second.
      onRefused: () => counters.datagramsRefused++,
    });
  } catch (err) {
    return stream.refuse('INTERNAL', `UDP bind failed: ${(err as Error).message}`);
  }
  // The ingress gave up meanwhile (its client left, or its deadline passed).
  if (stream.destroyed) return void wayOut.close();
  const bound = wayOut.bound;
  stream.accept(`${bound.host}:${bound.port}`);
  stream.on('error', () => undefined); // a reset or a broken link: 'close' follows
  stream.on('datagram', (target: TargetAddress, data: Buffer) => {
    counters.datagramsOut++;
    // A DATAGRAM frame may carry more than UDP over IPv4 can (its limit leaves room for the longest
    // address): the exit's own limit, as on its SOCKS5 port, whatever the ingress sends.
    if (data.length > LIMITS.maxUdpPayload) return void counters.datagramsRefused++;
    wayOut.send(target, data);
  });
  wayOut.onReply = (from, data) => {
    if (stream.sendDatagram(from, data)) counters.datagramsBack++;
  };
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    wayOut.close();
  };
  wayOut.onClose = () => {
    if (!done) stream.destroy(new Error('UDP socket failed')); // the ingress hears a reset
    done = true;
  };
  stream.on('end', () => {
    finish();
    stream.end();
  });
  stream.once('close', finish);
  stream.setTimeout(o.idleMs, () => stream.destroy(new Error(`UDP association idle for ${Math.round(o.idleMs / 1000)} s`)));
  stream.resume(); // no DATA on a UDP stream; its FIN must still be read
}

/**
 * Open the way to a target: directly, or through an exit and the hops before
 * it (ingress → via… → exit → target). Each hop's handshake asks for the next
 * address; the exit's answer for the target is what the client hears.
 */
import { LIMITS } from '../../shared/limits.js';
import type { Socket } from 'node:net';
import { ProxyError } from '../../shared/errors.js';
import type { TargetAddress } from '../../protocol/address.js';
import type { ExitConfig, ForwardExitConfig, HopConfig, ReverseExitConfig } from '../../shared/schema/ingress-config.js';
import { dialDirect, type DialOptions } from './dial-direct.js';
import { checkUnresolvedTarget } from '../../shared/net/resolve-allowed.js';
import { greetHop, handshakeHop, udpInTcpAtHop } from './hop-handshake.js';
import { throughHops, type HopChain } from './hop-chain.js';
import type { LinkPools } from './link-pool.js';

function hopName(h: HopConfig, exit: ForwardExitConfig): string {
  return h === exit ? `exit ${exit.id}` : `hop ${h.host}:${h.port} (before exit ${exit.id})`;
}

/** ingress → via… → exit, per tunnel. */
function routeTo(exit: ForwardExitConfig): HopChain {
  return { hops: [...exit.via, exit], name: (h) => hopName(h, exit), what: `route through exit ${exit.id}` };
}

/** How the ingress reaches reverse-connected exits (src/ingress/reverse/): over their idle work connections. */
export interface ReverseDialer {
  dial(exit: ReverseExitConfig, target: TargetAddress, timeoutMs: number): Promise<Socket>;
}

export async function dialRoute(target: TargetAddress, exit: ExitConfig | undefined, opts: DialOptions, reverse?: ReverseDialer, links?: LinkPools): Promise<Socket> {
  if (!exit) return dialDirect(target, opts);
  // Names are resolved at the exit (which applies its own policy to the resolved address);
  // literal addresses and ports are checked here as well, before anything leaves.
  checkUnresolvedTarget(target, opts.policy);
  if (exit.kind === 'reverse') {
    if (!reverse) throw new ProxyError('EXIT_UNREACHABLE', `exit ${exit.id} is a reverse exit but this ingress has no tunnel port (reverse.listen)`);
    return reverse.dial(exit, target, opts.timeoutMs);
  }
  // A hopgate exit with a link: one stream on a link (the exit answers with its exact code), no TCP connection of its own.
  // The stream stands in for a socket: it has what the relay uses of one (src/link/stream.ts).
  const pool = links?.for(exit);
  if (pool) return (await pool.open(target, opts.timeoutMs + LIMITS.exitAnswerGraceMs)) as unknown as Socket;
  return throughHops(routeTo(exit), opts.timeoutMs, (socket, last, cred) => handshakeHop(socket, last.kind, hopName(last, exit), target, cred), opts.readBuffers);
}

/** A chained route to a hopgate exit carrying UDP in its TCP stream (UDP_IN_TCP). */
export function openUdpInTcpRoute(exit: ForwardExitConfig, timeoutMs: number): Promise<Socket> {
  return throughHops(routeTo(exit), timeoutMs, (s, last, cred) => udpInTcpAtHop(s, last.kind, hopName(last, exit), cred));
}

/**
 * Health probe of a whole route: through every hop to the exit, then the exit's
 * greeting and our credentials (docs/EXITS.md). Resolves when all of it works.
 */
export async function probeRoute(exit: ForwardExitConfig, timeoutMs: number, links?: LinkPools): Promise<void> {
  // Over a link: the link is up (dialled if need be, both sides authenticated) and answers a PING.
  const pool = links?.for(exit);
  if (pool) return void (await pool.probe(timeoutMs));
  const socket = await throughHops(routeTo(exit), timeoutMs, (s, last, cred) => greetHop(s, last.kind, hopName(last, exit), cred));
  socket.destroy();
}

/**
 * Open the way to a target: directly, or through an exit and the hops before
 * it (ingress → via… → exit → target). Each hop's handshake asks for the next
 * address; the exit's answer for the target is what the client hears.
 */
import type { Socket } from 'node:net';
import { ProxyError } from '../../shared/errors.js';
import type { TargetAddress } from '../../protocol/address.js';
import { targetKind } from '../../protocol/address.js';
import type { ExitConfig, HopConfig } from '../../shared/schema/ingress-config.js';
import { checkUnresolvedTarget, connectTcp, dialDirect, type DialOptions } from './dial-direct.js';
import { handshakeHop } from './hop-handshake.js';

function hopName(h: HopConfig, exit: ExitConfig): string {
  return h === exit ? `exit ${exit.id}` : `hop ${h.host}:${h.port} (before exit ${exit.id})`;
}

export async function dialRoute(target: TargetAddress, exit: ExitConfig | undefined, opts: DialOptions): Promise<Socket> {
  if (!exit) return dialDirect(target, opts);
  // Names are resolved at the exit (which applies its own policy to the resolved address);
  // literal addresses and ports are checked here as well, before anything leaves.
  checkUnresolvedTarget(target, opts.policy);
  const hops: HopConfig[] = [...exit.via, exit];
  let socket: Socket;
  try {
    socket = await connectTcp(hops[0]!.host, hops[0]!.port, opts.timeoutMs);
  } catch (err) {
    throw new ProxyError((err as ProxyError).code === 'TIMEOUT' ? 'TIMEOUT' : 'EXIT_UNREACHABLE', `${hopName(hops[0]!, exit)}: ${(err as Error).message}`, { cause: err });
  }
  socket.on('error', () => undefined); // surfaced through the handshake, then the relay
  const timer = setTimeout(() => socket.destroy(new ProxyError('TIMEOUT', `route through exit ${exit.id} timed out`)), opts.timeoutMs);
  try {
    for (let i = 0; i < hops.length; i++) {
      const h = hops[i]!;
      const next = hops[i + 1];
      const to: TargetAddress = next ? { host: next.host, port: next.port, kind: targetKind(next.host) } : target;
      const cred = h.username !== undefined ? { username: h.username, password: h.password ?? '' } : undefined;
      await handshakeHop(socket, h.kind, hopName(h, exit), to, cred);
    }
  } catch (err) {
    socket.destroy();
    if (socket.errored instanceof ProxyError && socket.errored.code === 'TIMEOUT') throw socket.errored;
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return socket;
}

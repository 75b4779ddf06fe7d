/**
 * Direct egress: resolve, check the target policy on every resolved address,
 * connect from the configured local address (shared/net/connect-tcp.ts).
 */
import type { Socket } from 'node:net';
import type { TargetAddress } from '../../protocol/address.js';
import type { TargetPolicy } from '../../shared/net/target-policy.js';
import { connectFirst, type ConnectOptions } from '../../shared/net/connect-tcp.js';
import { resolveAllowed } from '../../shared/net/resolve-allowed.js';
import { within } from '../../shared/deadline.js';

export interface DialOptions extends ConnectOptions {
  readonly policy: TargetPolicy;
  readonly timeoutMs: number;
}

/**
 * Dial the target directly: resolve (names here, where the connection leaves), keep the
 * addresses the policy and this node's egress families allow, and race them happy-eyeballs
 * style, each from its family's source address (shared/net/happy-eyeballs.ts). One deadline,
 * `timeoutMs`, covers the name lookup and every attempt.
 */
export async function dialDirect(target: TargetAddress, opts: DialOptions): Promise<Socket> {
  const until = Date.now() + opts.timeoutMs;
  const allowed = await within(resolveAllowed(target, opts.policy), opts.timeoutMs, `resolving ${target.host} timed out`);
  return connectFirst(allowed, target, until - Date.now(), opts);
}

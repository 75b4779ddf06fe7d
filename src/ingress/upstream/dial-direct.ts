/**
 * Direct egress: resolve, check the target policy on every resolved address,
 * connect from the configured local address (shared/net/connect-tcp.ts).
 */
import type { Socket } from 'node:net';
import { ProxyError } from '../../shared/errors.js';
import { formatTarget, type TargetAddress } from '../../protocol/address.js';
import type { TargetPolicy } from '../../shared/net/target-policy.js';
import { connectTcp, type ConnectOptions } from '../../shared/net/connect-tcp.js';
import { resolveAllowed } from '../../shared/net/resolve-allowed.js';

export interface DialOptions extends ConnectOptions {
  readonly policy: TargetPolicy;
  readonly timeoutMs: number;
}

/** Reject with TIMEOUT when `p` takes longer than `ms` (its late result is dropped). */
function within<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new ProxyError('TIMEOUT', message)), ms)));
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

/**
 * Dial the target directly; tries up to three allowed addresses in order.
 * One deadline, `timeoutMs`, covers the name lookup and every attempt.
 */
export async function dialDirect(target: TargetAddress, opts: DialOptions): Promise<Socket> {
  const until = Date.now() + opts.timeoutMs;
  const addrs = await within(resolveAllowed(target, opts.policy), opts.timeoutMs, `resolving ${target.host} timed out`);
  let lastErr: Error | undefined;
  for (const host of addrs.slice(0, 3)) {
    const left = until - Date.now();
    // Out of time (the lookup took it): the last attempt's failure, or the timeout itself.
    if (left <= 0) break;
    try {
      return await connectTcp(host, target.port, left, opts);
    } catch (err) {
      lastErr = err as Error; // connectTcp rejects with ProxyErrors only
      if ((err as ProxyError).code === 'TIMEOUT') break; // don't multiply the wait
    }
  }
  throw lastErr ?? new ProxyError('TIMEOUT', `connect to ${formatTarget(target)} timed out`);
}

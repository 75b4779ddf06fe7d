/** A deadline on a promise: the one helper for "answer in time or TIMEOUT" (link opens, pings, name lookups). */
import { ProxyError } from './errors.js';

/**
 * `p`, or a TIMEOUT ProxyError saying `message` once `ms` pass. A result that
 * arrives after the deadline goes to `late` (a stream or socket nobody will use
 * any more: destroy it, or it stays open at the other end).
 */
export function within<T>(p: Promise<T>, ms: number, message: string, late?: (v: T) => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let expiredNow = false;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expiredNow = true;
      reject(new ProxyError('TIMEOUT', message));
    }, ms);
  });
  if (late) void p.then((v) => expiredNow && late(v), () => undefined);
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

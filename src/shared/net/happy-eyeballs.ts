/**
 * Dual-stack egress (docs/EXITS.md, "IPv4 and IPv6 egress"). A node may have an
 * IPv4 and an IPv6 source address; a connection to a target of one family must
 * leave from that family's address (binding IPv4 and connecting IPv6 fails with
 * EINVAL). Names are resolved here, where the connection leaves.
 *
 * Why not `net.connect({ autoSelectFamily })`: it does its own lookup (the
 * target policy must judge every resolved address first, not a second answer),
 * and it binds one localAddress for every attempt, which cannot be right for
 * both families at once. So: resolve all, keep what the policy and our egress
 * families allow, then race the addresses RFC 8305-style — families
 * interleaved, the next attempt started after ATTEMPT_DELAY_MS or as soon as the
 * previous one fails, each from its own family's source address, first
 * connection wins, the others are cancelled.
 */
import { isIP, isIPv4, isIPv6, type Socket } from 'node:net';
import { ProxyError } from '../errors.js';

/** RFC 8305 §5 recommends 250 ms between connection attempts. */
export const ATTEMPT_DELAY_MS = 250;
/** At most this many addresses are tried per connection (two of each family when both resolve). */
export const MAX_ATTEMPTS = 4;

export type Family = 4 | 6;

/** The source addresses a node egresses from (ingress config `egress`). */
export interface EgressAddresses {
  readonly localAddress?: string | undefined;
  readonly localAddress6?: string | undefined;
}

/**
 * The source address for a target of `family`: a string, undefined (the kernel chooses),
 * or null when this node has no egress of that family.
 */
export function sourceFor(family: Family, e: EgressAddresses): string | undefined | null {
  const { localAddress: a, localAddress6: a6 } = e;
  if (a === undefined && a6 === undefined) return undefined;
  if (family === 6) return a6 ?? (a !== undefined && isIPv6(a) ? a : null);
  return a !== undefined && isIPv4(a) ? a : null;
}

/** The families this node can egress: both unless only one source address is configured. */
export function egressFamilies(e: EgressAddresses): Family[] {
  return ([4, 6] as const).filter((f) => sourceFor(f, e) !== null);
}

export function familyOf(address: string): Family | undefined {
  const v = isIP(address);
  return v === 4 ? 4 : v === 6 ? 6 : undefined;
}

export function familyName(f: Family): string {
  return f === 4 ? 'IPv4' : 'IPv6';
}

/**
 * Keep the addresses this node can reach from its egress families, or say why none is left
 * (FAMILY_UNSUPPORTED). `what` names the target in the message.
 */
export function reachableAddresses(addrs: readonly string[], e: EgressAddresses, what: string): string[] {
  const families = egressFamilies(e);
  const ok = addrs.filter((a) => {
    const f = familyOf(a);
    return f === undefined || families.includes(f);
  });
  if (ok.length > 0) return ok;
  const wanted = [...new Set(addrs.map((a) => familyOf(a)).filter((f): f is Family => f !== undefined))];
  throw new ProxyError(
    'FAMILY_UNSUPPORTED',
    `${what} is ${wanted.map(familyName).join('/')} only, and this node egresses ${families.map(familyName).join('/') || 'no family'} only`,
  );
}

/** RFC 8305 §4: alternate the families, starting with the resolver's first preference. */
export function interleaveFamilies(addrs: readonly string[]): string[] {
  if (addrs.length === 0) return [];
  const first = familyOf(addrs[0]!);
  const a = addrs.filter((x) => familyOf(x) === first);
  const b = addrs.filter((x) => familyOf(x) !== first);
  const out: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i]!);
    if (i < b.length) out.push(b[i]!);
  }
  return out;
}

/** One attempt: connect to `host` before `timeoutMs`, abandoned (socket destroyed) when `signal` fires. */
export type Attempt = (host: string, timeoutMs: number, signal: AbortSignal) => Promise<Socket>;

/**
 * Race connection attempts to `addrs` (already ordered) under one deadline. Resolves with the
 * first connected socket; rejects with the last failure when every attempt failed.
 */
export function raceAttempts(addrs: readonly string[], timeoutMs: number, attempt: Attempt, delayMs = ATTEMPT_DELAY_MS): Promise<Socket> {
  const list = addrs.slice(0, MAX_ATTEMPTS);
  const until = Date.now() + timeoutMs;
  const abort = new AbortController();
  return new Promise<Socket>((resolve, reject) => {
    let next = 0;
    let pending = 0;
    let done = false;
    let lastErr: unknown;
    let stagger: NodeJS.Timeout | undefined;
    const finish = (): void => {
      done = true;
      clearTimeout(stagger);
      abort.abort();
    };
    const launch = (): void => {
      clearTimeout(stagger);
      if (done || next >= list.length) return;
      const host = list[next++]!;
      const left = until - Date.now();
      if (left <= 0) {
        if (pending === 0) finishWith(new ProxyError('TIMEOUT', `connect to ${host} timed out`));
        return;
      }
      pending++;
      attempt(host, left, abort.signal).then(
        (socket) => {
          pending--;
          if (done) return void socket.destroy(); // a slower attempt that connected anyway
          finish();
          resolve(socket);
        },
        (err: unknown) => {
          pending--;
          if (done) return;
          lastErr = err;
          // A timeout is the shared deadline: nothing later can do better.
          if ((err as ProxyError).code === 'TIMEOUT' || next >= list.length) {
            if (pending === 0) finishWith(err);
            return;
          }
          launch(); // failed fast: the next address at once
        },
      );
      if (next < list.length) stagger = setTimeout(launch, delayMs);
    };
    const finishWith = (err: unknown): void => {
      finish();
      reject(err instanceof Error ? err : lastErr instanceof Error ? lastErr : new ProxyError('HOST_UNREACHABLE', 'no address could be reached'));
    };
    launch();
  });
}

/**
 * Credentials + source address → Principal, or a ProxyError saying why not.
 *
 * Passwords are stored as scrypt hashes. The first successful check of a
 * credential pays scrypt; afterwards an HMAC of the password under a
 * per-process key is kept and compared in constant time, so millions of
 * connections a day cost microseconds each. A changed hash invalidates it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProxyError } from '../../shared/errors.js';
import { parseUsername, type ParsedUsername } from '../../protocol/username/grammar.js';
import type { CompiledUser, Snapshot } from '../config/snapshot.js';
import { verifyPassword } from './password-hash.js';
import { AuthThrottle } from './auth-throttle.js';
import { Semaphore } from '../../shared/semaphore.js';
import { parseIp } from '../../shared/net-addr.js';

export interface Principal {
  readonly user: CompiledUser;
  readonly username: ParsedUsername;
  /** How this principal proved itself. */
  readonly method: 'password' | 'source';
}

export interface Credentials {
  readonly username: string;
  /** Undefined when the protocol carried no password (SOCKS4 userid without ':'). */
  readonly password: string | undefined;
}

interface Verified {
  readonly hash: string;
  readonly mac: Buffer;
}

const MAX_SLOW_CHECKS = 4; // concurrent scrypt runs (libuv pool has 4 threads)
const MAX_SLOW_QUEUE = 256;

export class Authenticator {
  private readonly macKey = randomBytes(32);
  private readonly verified = new Map<string, Verified>();
  private readonly slow = new Semaphore(MAX_SLOW_CHECKS, MAX_SLOW_QUEUE);
  private readonly inFlight = new Map<string, Promise<boolean>>();
  readonly throttle: AuthThrottle;

  constructor(authFailuresFree: number, maxTrackedSources: number) {
    this.throttle = new AuthThrottle(authFailuresFree, maxTrackedSources);
  }

  /** Resolves to a Principal; rejects with ProxyError (after the throttle's delay). */
  async authenticate(snap: Snapshot, cred: Credentials | undefined, source: string): Promise<Principal> {
    try {
      const p = await this.check(snap, cred, source);
      return p;
    } catch (err) {
      const delay = this.throttle.fail(source);
      if (delay > 0) await sleep(delay);
      throw err;
    }
  }

  private async check(snap: Snapshot, cred: Credentials | undefined, source: string): Promise<Principal> {
    if (!cred || cred.username.length === 0) return this.bySource(snap, source);
    const parsed = parseUsername(cred.username);
    if (!parsed.ok) throw new ProxyError('USERNAME_INVALID', parsed.reason);
    const username = parsed.value;
    const user = snap.usersByLogin.get(username.login);
    if (!user) throw new ProxyError('AUTH_FAILED', 'unknown user or wrong password');
    const fromAllowedSource = user.sources.size > 0 && user.sources.hasText(source);
    if (user.sources.size > 0 && !fromAllowedSource) {
      throw new ProxyError('SOURCE_NOT_ALLOWED', `source ${source} is not allowed for this user`);
    }
    let method: Principal['method'];
    if (user.sourceAuth && fromAllowedSource && (cred.password === undefined || user.passwordHash === undefined)) {
      method = 'source';
    } else if (user.passwordHash !== undefined && cred.password !== undefined) {
      if (!(await this.passwordMatches(user, cred.password))) {
        throw new ProxyError('AUTH_FAILED', 'unknown user or wrong password');
      }
      method = 'password';
    } else {
      throw new ProxyError('AUTH_REQUIRED', 'a password is required');
    }
    if (user.suspended) throw new ProxyError('USER_SUSPENDED', 'this user is suspended');
    return { user, username, method };
  }

  /** The source-auth user whose range holds `source` most specifically (the schema refuses overlaps; this keeps it order-free anyway). */
  private bySource(snap: Snapshot, source: string): Principal {
    const addr = parseIp(source);
    let found: CompiledUser | undefined;
    let bits = -1;
    if (addr !== undefined) {
      for (const user of snap.sourceAuthUsers) {
        const b = user.sources.longestPrefix(addr);
        if (b > bits) [found, bits] = [user, b];
      }
    }
    if (!found) throw new ProxyError('AUTH_REQUIRED', 'credentials required');
    if (found.suspended) throw new ProxyError('USER_SUSPENDED', 'this user is suspended');
    return { user: found, username: { login: found.login, tags: {}, raw: '' }, method: 'source' };
  }

  private async passwordMatches(user: CompiledUser, password: string): Promise<boolean> {
    const hash = user.passwordHash!;
    const mac = createHmac('sha256', this.macKey).update(password).digest();
    const known = this.verified.get(user.login);
    // The remembered MAC is of the password that matched this exact hash: equal MAC ⇔ same password.
    if (known && known.hash === hash) return timingSafeEqual(known.mac, mac);
    // Single flight: a burst of new connections with one credential pays scrypt once, not once each.
    const key = `${user.login}\0${mac.toString('base64')}`;
    let check = this.inFlight.get(key);
    if (!check) {
      check = this.slow.run(() => verifyPassword(password, hash)).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, check);
    }
    const ok = await check;
    if (ok) this.verified.set(user.login, { hash, mac });
    return ok;
  }

  /** Drop remembered checks of users that are gone or changed (after a reload). */
  prune(snap: Snapshot): void {
    for (const [login, v] of this.verified) {
      if (snap.usersByLogin.get(login)?.passwordHash !== v.hash) this.verified.delete(login);
    }
  }
}

/**
 * Credentials + source address → Principal, or a ProxyError saying why not.
 *
 * Passwords are stored as scrypt hashes. The first successful check of a
 * credential pays scrypt; afterwards an HMAC of the password under a
 * per-process key is kept and compared in constant time, so millions of
 * connections a day cost microseconds each. A changed hash invalidates it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ProxyError, type ErrorCode } from '../../shared/errors.js';
import { parseUsername, type ParsedUsername } from '../../protocol/username/grammar.js';
import type { CompiledUser, Snapshot } from '../config/snapshot.js';
import { parseHash, verifyPassword } from '../../shared/auth/password-hash.js';
import { AuthThrottle, type ThrottleSettings } from '../../shared/auth/auth-throttle.js';
import { FairSemaphore } from '../../shared/fair-semaphore.js';
import { sourceKey } from '../../shared/source-key.js';
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
/** Failures that count as a guess (a refusal for load, or a suspended user with the right password, does not). */
const GUESSES: ReadonlySet<ErrorCode> = new Set(['AUTH_FAILED', 'AUTH_REQUIRED', 'USERNAME_INVALID', 'SOURCE_NOT_ALLOWED']);
const WRONG = 'unknown user or wrong password';

export class Authenticator {
  private readonly macKey = randomBytes(32);
  private readonly verified = new Map<string, Verified>();
  /** scrypt slots shared fairly between sources (a flood from one waits behind its own share). */
  private readonly slow: FairSemaphore;
  private readonly inFlight = new Map<string, Promise<boolean>>();
  /** Per snapshot: a hash with the users' usual scrypt parameters that no password matches. */
  private readonly dummies = new WeakMap<Snapshot, string>();
  readonly throttle: AuthThrottle;

  constructor(throttle: ThrottleSettings, checksPerSource: number) {
    this.throttle = new AuthThrottle(throttle);
    this.slow = new FairSemaphore(MAX_SLOW_CHECKS, checksPerSource, MAX_SLOW_QUEUE);
  }

  /** New limits from a reload. */
  configure(throttle: ThrottleSettings, checksPerSource: number): void {
    this.throttle.settings = throttle;
    this.slow.perKey = checksPerSource;
  }

  /**
   * Resolves to a Principal; rejects with ProxyError. A (source, login) or source past its
   * free failures is refused at once (RATE_LIMITED), without a check, until its backoff passed.
   */
  async authenticate(snap: Snapshot, cred: Credentials | undefined, source: string): Promise<Principal> {
    // No credentials at all is how HTTP clients ask for the challenge: not a guess.
    if (!cred || cred.username.length === 0) return this.bySource(snap, source);
    const parsed = parseUsername(cred.username);
    const key = sourceKey(source);
    const login = parsed.ok ? parsed.value.login : '';
    const wait = this.throttle.blockedFor(key, login);
    if (wait > 0) {
      const s = Math.ceil(wait / 1000);
      throw new ProxyError('RATE_LIMITED', `too many failed logins from this source; retry in ${s} s`, { retryAfterS: s });
    }
    try {
      if (!parsed.ok) throw new ProxyError('USERNAME_INVALID', parsed.reason);
      const p = await this.check(snap, parsed.value, cred.password, source, key);
      this.throttle.succeed(key, login);
      return p;
    } catch (err) {
      if (GUESSES.has((err as ProxyError).code)) this.throttle.fail(key, login);
      throw err;
    }
  }

  /**
   * Every way to fail before the password is proven costs one scrypt and answers alike,
   * so neither the answer nor its time tells whether a login exists.
   */
  private async check(snap: Snapshot, username: ParsedUsername, password: string | undefined, source: string, key: string): Promise<Principal> {
    const user = snap.usersByLogin.get(username.login);
    if (password === undefined && !(user?.sourceAuth && user.sources.hasText(source))) {
      throw new ProxyError('AUTH_REQUIRED', 'a password is required');
    }
    if (!user) {
      await this.slow.run(key, () => verifyPassword(password!, this.dummyHash(snap)));
      throw new ProxyError('AUTH_FAILED', WRONG);
    }
    const fromAllowedSource = user.sources.size > 0 && user.sources.hasText(source);
    let method: Principal['method'];
    if (user.sourceAuth && fromAllowedSource && (password === undefined || user.passwordHash === undefined)) {
      method = 'source';
    } else if (user.passwordHash !== undefined) {
      if (!(await this.passwordMatches(user, password!, key))) throw new ProxyError('AUTH_FAILED', WRONG);
      // Told only to someone who proved the password.
      if (user.sources.size > 0 && !fromAllowedSource) throw new ProxyError('SOURCE_NOT_ALLOWED', `source ${source} is not allowed for this user`);
      method = 'password';
    } else {
      // A password for a user who has none (a source-only user, from elsewhere).
      await this.slow.run(key, () => verifyPassword(password!, this.dummyHash(snap)));
      throw new ProxyError('AUTH_FAILED', WRONG);
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

  private async passwordMatches(user: CompiledUser, password: string, key: string): Promise<boolean> {
    const hash = user.passwordHash!;
    const mac = createHmac('sha256', this.macKey).update(password).digest();
    const known = this.verified.get(user.login);
    // The remembered MAC is of the password that matched this exact hash: equal MAC ⇔ same password.
    // A different password pays scrypt all the same: a wrong guess costs what it costs for any login.
    if (known && known.hash === hash && timingSafeEqual(known.mac, mac)) return true;
    // Single flight: a burst of new connections with one credential pays scrypt once, not once each.
    const flight = `${user.login}\0${mac.toString('base64')}`;
    let check = this.inFlight.get(flight);
    if (!check) {
      check = this.slow.run(key, () => verifyPassword(password, hash)).finally(() => this.inFlight.delete(flight));
      this.inFlight.set(flight, check);
    }
    const ok = await check;
    if (ok) this.verified.set(user.login, { hash, mac });
    return ok;
  }

  /** The scrypt parameters most users' hashes have, with a random salt and key (no password matches it). */
  private dummyHash(snap: Snapshot): string {
    let d = this.dummies.get(snap);
    if (d === undefined) {
      const counts = new Map<string, number>();
      for (const u of snap.usersByLogin.values()) {
        const h = u.passwordHash !== undefined ? parseHash(u.passwordHash) : undefined;
        if (h) counts.set(`ln=${h.ln},r=${h.r},p=${h.p}`, (counts.get(`ln=${h.ln},r=${h.r},p=${h.p}`) ?? 0) + 1);
      }
      const params = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'ln=15,r=8,p=1';
      d = `$scrypt$${params}$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`;
      this.dummies.set(snap, d);
    }
    return d;
  }

  /** Drop remembered checks of users that are gone or changed (after a reload). */
  prune(snap: Snapshot): void {
    for (const [login, v] of this.verified) {
      if (snap.usersByLogin.get(login)?.passwordHash !== v.hash) this.verified.delete(login);
    }
  }
}

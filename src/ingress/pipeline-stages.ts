/**
 * The stages a front handler (front/*.ts) calls once it has read its
 * protocol's request, in order: authorize → openUpstream (choose the exit,
 * dial the route) → reply → relay. The connection entry (connection-entry.ts)
 * runs what comes before: admission, sniffing, TLS. Fronts import this module,
 * the entry imports the fronts: nothing here imports either.
 */
import type { Socket } from 'node:net';
import { ProxyError } from '../shared/errors.js';
import { channels, type AuthFailMessage, type UserRefuseMessage } from '../shared/events.js';
import type { Exit } from '../shared/exits/exit-index.js';
import type { TargetAddress } from '../protocol/address.js';
import type { Credentials, Principal } from './auth/authenticator.js';
import type { IngressRuntime } from './runtime.js';
import type { Session } from './session.js';
import { dialRoute } from './upstream/dial-route.js';
import { selectExit, type ExitChoice } from './route/select-exit.js';
import type { RouteNeed } from './route/capabilities.js';

/** Authenticate and take a per-user connection slot. */
export async function authorize(rt: IngressRuntime, session: Session, cred: Credentials | undefined): Promise<Principal> {
  let principal: Principal;
  try {
    principal = await rt.auth.authenticate(session.snapshot, cred, session.source);
  } catch (err) {
    rt.legitimacy?.authFailed();
    if (channels.authFail.hasSubscribers) {
      channels.authFail.publish({ origin: rt, source: session.source, username: cred?.username, code: (err as ProxyError).code, reason: (err as Error).message } satisfies AuthFailMessage);
    }
    if ((err as ProxyError).code === 'USER_SUSPENDED') refused(rt, cred?.username, err as ProxyError);
    throw err;
  }
  session.principal = principal;
  releasePreAuth(rt, session);
  const user = principal.user;
  // Quota before the connection limit: the more useful answer when both apply.
  const overQuota = rt.quota.refusal(user);
  if (overQuota) throw refused(rt, user.login, overQuota);
  if (!rt.limiter.tryAcquireUser(user.login, user.maxConnections)) {
    throw refused(rt, user.login, new ProxyError('CONN_LIMIT', `user ${user.login} is at ${user.maxConnections} concurrent connections`));
  }
  session.slotHeld = true;
  session.limits = rt.limitsFor(user);
  // Evidence: an authenticated, admitted session (a UDP association's control connection
  // included) is a flow whose source cannot be spoofed.
  rt.legitimacy?.accepted(session.source);
  return principal;
}

function refused(rt: IngressRuntime, login: string | undefined, err: ProxyError): ProxyError {
  if (channels.userRefuse.hasSubscribers) channels.userRefuse.publish({ origin: rt, login, code: err.code, reason: err.message } satisfies UserRefuseMessage);
  return err;
}

/** The routing decision for this session (undefined: egress directly). */
export function chooseExit(rt: IngressRuntime, session: Session, usable: (e: Exit) => boolean, need?: RouteNeed): ExitChoice | undefined {
  const snap = session.snapshot;
  const principal = session.principal;
  if (!principal) throw new ProxyError('INTERNAL', 'routing before authentication');
  return selectExit(snap.exits, principal.user.route, {
    login: principal.user.login,
    tags: session.routeTags ?? principal.username.tags,
    port: session.port,
    nowMs: rt.now(),
    defaultSessionMinutes: snap.config.routing.defaultSessionMinutes,
    // Whether a reverse exit carries UDP is runtime state (links or not), kept by its registry alone.
    need: need?.udp ? { ...need, reverseUdp: (id) => rt.reverse?.registry.carriesUdp(id) ?? false } : need,
    qualityOf: (e) => rt.exitHealth.quality.score(e.id),
  }, usable);
}

/** Open the way to the target: choose the exit (or none: direct egress), then dial the route. */
export async function openUpstream(rt: IngressRuntime, session: Session, target: TargetAddress): Promise<Socket> {
  // The client's part of the handshake is over: from here the connect timeout bounds the wait,
  // and the client hears its protocol's answer (a timeout too) instead of a cut connection.
  handshakeDone(session);
  session.target = target;
  const snap = session.snapshot;
  const opts = { policy: snap.targetPolicy, timeoutMs: snap.config.limits.connectTimeoutMs, localAddress: snap.config.egress.localAddress, localAddress6: snap.config.egress.localAddress6, localPorts: snap.config.egress.ports, readBuffers: session.limits === undefined };
  const health = rt.exitHealth;
  const tried = new Set<string>();
  for (let attempt = 0; ; attempt++) {
    const choice = chooseExit(rt, session, (e) => !tried.has(e.id) && health.isUp(e.id), { target });
    if (!choice) {
      session.routeReason = 'direct';
      return dialRoute(target, undefined, opts);
    }
    session.exitId = choice.exit.id;
    session.routeReason = choice.reason;
    tried.add(choice.exit.id);
    try {
      const socket = await dialRoute(target, choice.exit, opts, rt.reverse, rt.links);
      health.succeeded(choice.exit.id);
      return socket;
    } catch (err) {
      // Only a failure to reach the exit itself says anything about the exit; the target's
      // refusal does not. Nothing has reached the client yet, so an unpinned choice may move on.
      if ((err as ProxyError).code !== 'EXIT_UNREACHABLE') throw err;
      health.failed(choice.exit.id);
      if (choice.pinned || attempt >= MAX_EXIT_RETRIES || tried.size >= snap.exits.size) throw err;
    }
  }
}

const MAX_EXIT_RETRIES = 2;

/** Handshake done: stop the deadline. */
export function handshakeDone(session: Session): void {
  clearTimeout(session.handshakeDeadline);
  session.handshakeDeadline = undefined;
}

/** Give back the session's not-yet-authenticated place (once). */
export function releasePreAuth(rt: IngressRuntime, session: Session): void {
  if (session.preAuthKey === undefined) return;
  rt.limiter.releasePreAuth(session.preAuthKey);
  session.preAuthKey = undefined;
}

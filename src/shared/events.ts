/**
 * Diagnostic channels: the byte path publishes, logs and metrics subscribe.
 * Publishing is skipped entirely when nobody listens.
 *
 * Channels are process-wide, but several ingresses can share a process (the
 * tests, an application embedding hopgate): every message names its `origin`
 * (the ingress runtime that published it), and a subscriber that keeps one
 * ingress's figures listens through `subscribeFrom`, which passes only that
 * origin's messages. Counting another ingress's sessions would double usage.
 */
import diagnostics_channel, { type Channel } from 'node:diagnostics_channel';

export const channels = Object.freeze({
  /** Its messages carry an ingress Session: their type lives beside it (ingress/session.ts), above shared. */
  sessionClose: diagnostics_channel.channel('hopgate:session:close'),
  authFail: diagnostics_channel.channel('hopgate:auth:fail'),
  admissionReject: diagnostics_channel.channel('hopgate:admission:reject'),
  configApplied: diagnostics_channel.channel('hopgate:config:applied'),
  /** An authenticated customer refused by a limit (USER_SUSPENDED, QUOTA_EXCEEDED, CONN_LIMIT). */
  userRefuse: diagnostics_channel.channel('hopgate:user:refuse'),
});

export interface FromOrigin {
  /** The publisher (an IngressRuntime); compared by identity only. */
  readonly origin: object;
}

export interface AuthFailMessage extends FromOrigin {
  readonly source: string;
  readonly username: string | undefined;
  readonly code: string;
  readonly reason: string;
}
export interface AdmissionRejectMessage extends FromOrigin {
  readonly source: string;
  readonly reason: string;
}
export interface UserRefuseMessage extends FromOrigin {
  readonly login: string | undefined;
  readonly code: string;
  readonly reason: string;
}
export interface ConfigAppliedMessage extends FromOrigin {
  readonly revision: number;
}

/**
 * Subscribe to `channel`, passing on only the messages of `origin` (every
 * message when `origin` is undefined). Returns the unsubscribe.
 */
export function subscribeFrom<M extends FromOrigin>(channel: Channel, origin: object | undefined, handler: (m: M) => void): () => void {
  const listener = (m: unknown): void => {
    if (origin === undefined || (m as M).origin === origin) handler(m as M);
  };
  channel.subscribe(listener);
  return () => void channel.unsubscribe(listener);
}

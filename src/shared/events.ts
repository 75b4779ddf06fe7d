/**
 * Diagnostic channels: the byte path publishes, logs and metrics subscribe.
 * Publishing is skipped entirely when nobody listens.
 */
import diagnostics_channel from 'node:diagnostics_channel';

export const channels = Object.freeze({
  sessionClose: diagnostics_channel.channel('hopgate:session:close'),
  authFail: diagnostics_channel.channel('hopgate:auth:fail'),
  admissionReject: diagnostics_channel.channel('hopgate:admission:reject'),
  configApplied: diagnostics_channel.channel('hopgate:config:applied'),
  /** An authenticated customer refused by a limit: { login, code, reason } (USER_SUSPENDED, QUOTA_EXCEEDED, CONN_LIMIT). */
  userRefuse: diagnostics_channel.channel('hopgate:user:refuse'),
});

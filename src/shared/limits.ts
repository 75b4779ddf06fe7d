/**
 * Every bound the ingress enforces, named once. Config may override the
 * ones marked configurable; each has a test that trips it.
 */
export const LIMITS = Object.freeze({
  /** Whole client handshake (greeting → auth → request) must finish within this (slowloris). */
  handshakeTimeoutMs: 10_000,
  /** Dialing the upstream (DNS + TCP connect). */
  connectTimeoutMs: 10_000,
  /**
   * Through an exit the ingress waits this much longer than its connect timeout, so that an exit
   * with the same timeout answers first, with its own code (REP 6 for its timeout, 4, 5…).
   */
  exitAnswerGraceMs: 2000,
  /** A relayed connection with no bytes either way for this long is closed. */
  idleTimeoutMs: 5 * 60_000,
  /** HTTP request/response head (start line + headers). */
  maxHeadBytes: 16 * 1024,
  maxHeaderCount: 100,
  /** Graceful shutdown: live connections get this long to finish. */
  drainTimeoutMs: 10_000,
  /** UDP ASSOCIATE: drop a datagram bigger than this; close an idle association. */
  maxUdpPayload: 65_507,
  /** The same over IPv6: 65,535 less the 8-byte UDP header. */
  maxUdpPayload6: 65_527,
  udpIdleTimeoutMs: 2 * 60_000,
  /** UDP-in-TCP (chained routes): datagrams queued on the stream beyond this are dropped, as UDP would. */
  udpInTcpBacklogBytes: 1 << 20,
  /** Sources remembered for auth-failure throttling (bounded map). */
  authThrottleTrackedSources: 50_000,
});

export type Limits = typeof LIMITS;

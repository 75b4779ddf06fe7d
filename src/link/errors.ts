/**
 * Why a link or one of its streams failed. `code` is for programs; the
 * message names the link, so a log line says which exit went away.
 */
export type LinkErrorCode =
  /** The TLS connection under the link closed or failed, or the peer broke the protocol: every stream on it fails. */
  | 'LINK_BROKEN'
  /** The peer reset this one stream (its side failed or gave up). */
  | 'STREAM_RESET'
  /** The link is draining (GOAWAY sent or received): no new streams on it. */
  | 'LINK_DRAINING'
  /** The link already carries its maximum number of streams. */
  | 'STREAM_LIMIT'
  /** The exit answered the open with a failure; `result` is its exact result code. */
  | 'OPEN_REFUSED';

export class LinkError extends Error {
  readonly code: LinkErrorCode;
  /** For OPEN_REFUSED and STREAM_RESET: the peer's code (TARGET_FORBIDDEN, CONN_REFUSED, ...). */
  readonly result: string | undefined;

  constructor(code: LinkErrorCode, message: string, result?: string) {
    super(message);
    this.name = 'LinkError';
    this.code = code;
    this.result = result;
  }
}

/**
 * A peer from before UDP streams refuses a UDP open as a bad request (it finds no target in the
 * OPEN): that refusal when it is the cause of `err` (the opener wrapped it), else undefined.
 * Forward and reverse exits alike: the caller answers COMMAND_UNSUPPORTED (SOCKS5 REP 7).
 */
export function olderPeerUdpRefusal(err: unknown): LinkError | undefined {
  const cause = (err as { cause?: unknown } | null | undefined)?.cause;
  return cause instanceof LinkError && cause.code === 'OPEN_REFUSED' && cause.result === 'BAD_REQUEST' ? cause : undefined;
}

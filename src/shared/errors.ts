/**
 * Every failure hopgate can report, and how each client protocol hears about it.
 * One table: the same code is the log field, the metric label, the HTTP
 * `X-Hopgate-Error` header and the SOCKS reply.
 */
export type ErrorCode =
  | 'AUTH_REQUIRED'
  | 'AUTH_FAILED'
  | 'USERNAME_INVALID'
  | 'SOURCE_NOT_ALLOWED'
  | 'USER_SUSPENDED'
  | 'TARGET_FORBIDDEN'
  | 'NO_EXIT_MATCH'
  | 'EXIT_UNREACHABLE'
  | 'CONN_REFUSED'
  | 'HOST_UNREACHABLE'
  | 'NET_UNREACHABLE'
  | 'DNS_FAILED'
  | 'TIMEOUT'
  | 'COMMAND_UNSUPPORTED'
  | 'ADDRTYPE_UNSUPPORTED'
  | 'FAMILY_UNSUPPORTED'
  | 'HEADERS_TOO_LARGE'
  | 'BAD_REQUEST'
  | 'RATE_LIMITED'
  | 'CONN_LIMIT'
  | 'QUOTA_EXCEEDED'
  | 'SHUTTING_DOWN'
  | 'INTERNAL';

export interface ReplyMapping {
  /** SOCKS5 REP field (RFC 1928 §6). */
  readonly socks5: number;
  /** SOCKS4 CD field: 0x5B is the only failure code that means "rejected or failed". */
  readonly socks4: number;
  readonly httpStatus: number;
  readonly httpReason: string;
}

const S4_REJECTED = 0x5b;

export const REPLIES: Readonly<Record<ErrorCode, ReplyMapping>> = Object.freeze({
  AUTH_REQUIRED: { socks5: 0x02, socks4: S4_REJECTED, httpStatus: 407, httpReason: 'Proxy Authentication Required' },
  AUTH_FAILED: { socks5: 0x02, socks4: S4_REJECTED, httpStatus: 407, httpReason: 'Proxy Authentication Required' },
  USERNAME_INVALID: { socks5: 0x02, socks4: S4_REJECTED, httpStatus: 407, httpReason: 'Proxy Authentication Required' },
  SOURCE_NOT_ALLOWED: { socks5: 0x02, socks4: S4_REJECTED, httpStatus: 407, httpReason: 'Proxy Authentication Required' },
  USER_SUSPENDED: { socks5: 0x02, socks4: S4_REJECTED, httpStatus: 403, httpReason: 'Forbidden' },
  TARGET_FORBIDDEN: { socks5: 0x02, socks4: S4_REJECTED, httpStatus: 403, httpReason: 'Forbidden' },
  // No exit this customer may use fits the request (tag, port, place): there is no way out for it,
  // so SOCKS5 "network unreachable" — not "general failure", which says nothing.
  NO_EXIT_MATCH: { socks5: 0x03, socks4: S4_REJECTED, httpStatus: 502, httpReason: 'Bad Gateway' },
  EXIT_UNREACHABLE: { socks5: 0x01, socks4: S4_REJECTED, httpStatus: 502, httpReason: 'Bad Gateway' },
  CONN_REFUSED: { socks5: 0x05, socks4: S4_REJECTED, httpStatus: 502, httpReason: 'Bad Gateway' },
  HOST_UNREACHABLE: { socks5: 0x04, socks4: S4_REJECTED, httpStatus: 502, httpReason: 'Bad Gateway' },
  NET_UNREACHABLE: { socks5: 0x03, socks4: S4_REJECTED, httpStatus: 502, httpReason: 'Bad Gateway' },
  DNS_FAILED: { socks5: 0x04, socks4: S4_REJECTED, httpStatus: 502, httpReason: 'Bad Gateway' },
  TIMEOUT: { socks5: 0x06, socks4: S4_REJECTED, httpStatus: 504, httpReason: 'Gateway Timeout' },
  COMMAND_UNSUPPORTED: { socks5: 0x07, socks4: S4_REJECTED, httpStatus: 501, httpReason: 'Not Implemented' },
  ADDRTYPE_UNSUPPORTED: { socks5: 0x08, socks4: S4_REJECTED, httpStatus: 400, httpReason: 'Bad Request' },
  // The target's address family (IPv4/IPv6) has no egress on the exits this request may use: the
  // request was well formed (not 400), the network cannot carry it (502), SOCKS5 "address type not supported".
  FAMILY_UNSUPPORTED: { socks5: 0x08, socks4: S4_REJECTED, httpStatus: 502, httpReason: 'Bad Gateway' },
  HEADERS_TOO_LARGE: { socks5: 0x01, socks4: S4_REJECTED, httpStatus: 431, httpReason: 'Request Header Fields Too Large' },
  BAD_REQUEST: { socks5: 0x01, socks4: S4_REJECTED, httpStatus: 400, httpReason: 'Bad Request' },
  RATE_LIMITED: { socks5: 0x02, socks4: S4_REJECTED, httpStatus: 429, httpReason: 'Too Many Requests' },
  CONN_LIMIT: { socks5: 0x02, socks4: S4_REJECTED, httpStatus: 429, httpReason: 'Too Many Requests' },
  QUOTA_EXCEEDED: { socks5: 0x02, socks4: S4_REJECTED, httpStatus: 402, httpReason: 'Payment Required' },
  SHUTTING_DOWN: { socks5: 0x01, socks4: S4_REJECTED, httpStatus: 503, httpReason: 'Service Unavailable' },
  INTERNAL: { socks5: 0x01, socks4: S4_REJECTED, httpStatus: 500, httpReason: 'Internal Server Error' },
});

/**
 * Codes that arise while authenticating: SOCKS5 answers them in the RFC 1929 sub-negotiation.
 * USER_SUSPENDED is not one: the credentials were right, so the client hears "authenticated"
 * and then REP 2 (not allowed by ruleset) to its request, like QUOTA_EXCEEDED and CONN_LIMIT —
 * a client that sees "authentication failed" would wrongly blame the password.
 */
export const AUTH_PHASE_CODES: ReadonlySet<ErrorCode> = new Set([
  'AUTH_REQUIRED',
  'AUTH_FAILED',
  'USERNAME_INVALID',
  'SOURCE_NOT_ALLOWED',
]);

export class ProxyError extends Error {
  readonly code: ErrorCode;
  /** When a refusal is temporary (RATE_LIMITED): seconds after which a retry may succeed (HTTP Retry-After). */
  readonly retryAfterS: number | undefined;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterS?: number }) {
    super(message, options);
    this.code = code;
    this.retryAfterS = options?.retryAfterS;
    this.name = 'ProxyError';
  }
}

export function isProxyError(err: unknown): err is ProxyError {
  return err instanceof ProxyError;
}

/** Map an OS-level socket/DNS error to our code, once, at the dial site. */
export function codeFromSystemError(err: unknown): ErrorCode {
  if (isProxyError(err)) return err.code;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'CONN_REFUSED';
    case 'EHOSTUNREACH':
    case 'EHOSTDOWN':
      return 'HOST_UNREACHABLE';
    case 'ENETUNREACH':
    case 'ENETDOWN':
    case 'EADDRNOTAVAIL':
      return 'NET_UNREACHABLE';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
    case 'ENODATA':
      return 'DNS_FAILED';
    case 'ETIMEDOUT':
      return 'TIMEOUT';
    default:
      return 'HOST_UNREACHABLE';
  }
}

/**
 * What an exit may answer for a target, passed on to the client as said (a hopgate exit over a
 * link, a reverse exit over its work connection). Any other code from an exit counts as the
 * exit's own failure (EXIT_UNREACHABLE): a hostile exit cannot make the ingress answer, say, AUTH_FAILED.
 */
export const EXIT_TARGET_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'TARGET_FORBIDDEN',
  'CONN_REFUSED',
  'HOST_UNREACHABLE',
  'NET_UNREACHABLE',
  'DNS_FAILED',
  'TIMEOUT',
  'FAMILY_UNSUPPORTED',
  'ADDRTYPE_UNSUPPORTED',
]);

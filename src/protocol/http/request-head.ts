/** Pure parser for an HTTP/1.x request head (request-line + header fields). */
import { fail, ok, type Parse } from '../parse.js';
import { isToken, parseHeaderLines, splitHead, type Header, type HeadLimits } from './head-lines.js';

export type { Header, HeadLimits } from './head-lines.js';

export interface RequestHead {
  readonly method: string;
  /** The request-target as sent: absolute-form, authority-form (CONNECT) or origin-form. */
  readonly target: string;
  readonly version: '1.0' | '1.1';
  readonly headers: readonly Header[];
  readonly headBytes: number;
}

const TARGET_RE = /^[\x21-\x7e]+$/;

export function parseRequestHead(buf: Buffer, limits: HeadLimits): Parse<RequestHead> {
  const split = splitHead(buf, limits, true);
  if (split.kind !== 'ok') return split;
  const [requestLine = '', ...fieldLines] = split.value;
  const parts = requestLine.split(' ');
  if (parts.length !== 3) return fail('BAD_REQUEST', 'malformed request line');
  const [method = '', target = '', proto = ''] = parts;
  if (!isToken(method)) return fail('BAD_REQUEST', 'malformed request method');
  if (!TARGET_RE.test(target)) return fail('BAD_REQUEST', 'malformed request target');
  let version: RequestHead['version'];
  if (proto === 'HTTP/1.1') version = '1.1';
  else if (proto === 'HTTP/1.0') version = '1.0';
  else return fail('BAD_REQUEST', `unsupported protocol version ${JSON.stringify(proto.slice(0, 16))}`);
  const headers = parseHeaderLines(fieldLines, limits);
  if (headers.kind !== 'ok') return headers;
  return ok({ method, target, version, headers: headers.value, headBytes: split.consumed }, split.consumed);
}

/**
 * How long a message body is (RFC 9112 §6). Requests are judged strictly:
 * every shape that two parsers could read differently (Content-Length with
 * Transfer-Encoding, codings other than a lone `chunked`, disagreeing lengths)
 * is refused rather than guessed at.
 */
import { headerValues, type Header } from './head-lines.js';

export { hasToken, headerValues } from './head-lines.js';

export type BodyFraming =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  | { readonly kind: 'until-close' };

export type FramingResult = { readonly kind: 'ok'; readonly value: BodyFraming } | { readonly kind: 'error'; readonly message: string };

const NONE: FramingResult = { kind: 'ok', value: { kind: 'none' } };
const CHUNKED: FramingResult = { kind: 'ok', value: { kind: 'chunked' } };
const UNTIL_CLOSE: FramingResult = { kind: 'ok', value: { kind: 'until-close' } };

function error(message: string): FramingResult {
  return { kind: 'error', message };
}

/** The single Content-Length all fields agree on, undefined when absent, or an error text. */
function contentLength(headers: readonly Header[]): number | undefined | string {
  const values = headerValues(headers, 'content-length');
  if (values.length === 0) return undefined;
  let found: string | undefined;
  for (const v of values) {
    for (const part of v.split(',')) {
      const t = part.trim();
      if (!/^\d{1,15}$/.test(t)) return 'invalid Content-Length';
      if (found !== undefined && Number(found) !== Number(t)) return 'conflicting Content-Length values';
      found = t;
    }
  }
  return Number(found);
}

function codings(headers: readonly Header[]): string[] {
  const out: string[] = [];
  for (const v of headerValues(headers, 'transfer-encoding')) for (const p of v.split(',')) out.push(p.trim().toLowerCase());
  return out;
}

export function requestFraming(head: { readonly version: string; readonly headers: readonly Header[] }): FramingResult {
  const te = codings(head.headers);
  const cl = contentLength(head.headers);
  if (typeof cl === 'string') return error(cl);
  if (te.length > 0) {
    if (cl !== undefined) return error('both Content-Length and Transfer-Encoding');
    if (head.version === '1.0') return error('Transfer-Encoding in an HTTP/1.0 request');
    if (te.length !== 1 || te[0] !== 'chunked') return error('unsupported Transfer-Encoding (only a single "chunked" is accepted)');
    return CHUNKED;
  }
  if (cl === undefined || cl === 0) return NONE;
  return { kind: 'ok', value: { kind: 'length', length: cl } };
}

export function responseFraming(res: { readonly status: number; readonly headers: readonly Header[] }, requestMethod: string): FramingResult {
  if (requestMethod === 'HEAD' || res.status < 200 || res.status === 204 || res.status === 304) return NONE;
  const te = codings(res.headers);
  const cl = contentLength(res.headers);
  if (typeof cl === 'string') return error(cl);
  if (te.length > 0) {
    // Passing both on would hand the client the same ambiguity we refuse from clients.
    if (cl !== undefined) return error('both Content-Length and Transfer-Encoding');
    return te[te.length - 1] === 'chunked' ? CHUNKED : UNTIL_CLOSE;
  }
  if (cl === undefined) return UNTIL_CLOSE;
  return cl === 0 ? NONE : { kind: 'ok', value: { kind: 'length', length: cl } };
}

/** Pure parser for an HTTP/1.x response head (status-line + header fields). */
import { fail, ok, type Parse } from '../parse.js';
import { parseHeaderLines, splitHead, type Header, type HeadLimits } from './head-lines.js';

export interface ResponseHead {
  readonly version: '1.0' | '1.1';
  readonly status: number;
  readonly reason: string;
  readonly headers: readonly Header[];
  readonly headBytes: number;
}

const STATUS_LINE_RE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$/;

export function parseResponseHead(buf: Buffer, limits: HeadLimits): Parse<ResponseHead> {
  const split = splitHead(buf, limits, false);
  if (split.kind !== 'ok') return split;
  const [statusLine = '', ...fieldLines] = split.value;
  const m = STATUS_LINE_RE.exec(statusLine);
  if (!m) return fail('BAD_REQUEST', 'malformed status line');
  const headers = parseHeaderLines(fieldLines, limits);
  if (headers.kind !== 'ok') return headers;
  return ok(
    { version: m[1] === '1' ? '1.1' : '1.0', status: Number(m[2]), reason: m[3] ?? '', headers: headers.value, headBytes: split.consumed },
    split.consumed,
  );
}

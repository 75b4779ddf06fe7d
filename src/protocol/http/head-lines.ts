/**
 * Shared pieces of HTTP/1.1 message heads (RFC 9112): finding the end of the
 * head and parsing header lines strictly. Strictness is the point: a proxy
 * that is lenient where its upstream is strict (or the reverse) is how
 * request smuggling happens, so anything ambiguous is refused.
 */
import { fail, MORE, type Parse } from '../parse.js';

export interface Header {
  readonly name: string;
  readonly value: string;
}

export interface HeadLimits {
  readonly maxHeadBytes: number;
  readonly maxHeaderCount: number;
}

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, obs-text, SP and HTAB; never CR, LF, NUL or other controls.
const BAD_VALUE_RE = /[\x00-\x08\x0a-\x1f\x7f]/;

export function isToken(s: string): boolean {
  return TOKEN_RE.test(s);
}

/**
 * Locate a complete head. Returns the head's lines (without the final empty
 * line) and its length in bytes, `MORE`, or an error.
 */
export function splitHead(buf: Buffer, limits: HeadLimits, skipLeadingEmptyLines: boolean): Parse<string[]> {
  let start = 0;
  // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line.
  if (skipLeadingEmptyLines) {
    while (start + 1 < buf.length && buf[start] === 0x0d && buf[start + 1] === 0x0a && start < 8) start += 2;
  }
  const end = buf.indexOf('\r\n\r\n', start, 'latin1');
  if (end < 0) {
    if (buf.length >= limits.maxHeadBytes) return fail('HEADERS_TOO_LARGE', `message head exceeds ${limits.maxHeadBytes} bytes`);
    // A head using bare LF (or CR) would never show CRLFCRLF: refuse it now instead of waiting for more.
    if (hasBareLineBreak(buf, start)) return fail('BAD_REQUEST', 'bare CR or LF in message head');
    return MORE;
  }
  const headBytes = end + 4;
  if (headBytes > limits.maxHeadBytes) return fail('HEADERS_TOO_LARGE', `message head exceeds ${limits.maxHeadBytes} bytes`);
  const text = buf.toString('latin1', start, end);
  const lines = text.split('\r\n');
  for (const line of lines) {
    if (line.includes('\n') || line.includes('\r')) return fail('BAD_REQUEST', 'bare CR or LF in message head');
  }
  return { kind: 'ok', value: lines, consumed: headBytes };
}

/** An LF not preceded by CR, or a CR followed by anything but LF (a CR as the last byte may still be completed). */
function hasBareLineBreak(buf: Buffer, start: number): boolean {
  for (let i = buf.indexOf(0x0a, start); i >= 0; i = buf.indexOf(0x0a, i + 1)) if (i === 0 || buf[i - 1] !== 0x0d) return true;
  for (let i = buf.indexOf(0x0d, start); i >= 0 && i + 1 < buf.length; i = buf.indexOf(0x0d, i + 1)) if (buf[i + 1] !== 0x0a) return true;
  return false;
}

/** `line` from `start` without leading and trailing SP/HTAB, in linear time (a regex trim is quadratic on inner runs of blanks). */
function trimBlanks(line: string, start: number): string {
  let a = start;
  let b = line.length;
  while (a < b && (line.charCodeAt(a) === 0x20 || line.charCodeAt(a) === 0x09)) a++;
  while (b > a && (line.charCodeAt(b - 1) === 0x20 || line.charCodeAt(b - 1) === 0x09)) b--;
  return line.slice(a, b);
}

/** Parse header field lines; refuses obs-fold, whitespace before the colon and control characters. */
export function parseHeaderLines(lines: readonly string[], limits: HeadLimits): Parse<Header[]> {
  if (lines.length > limits.maxHeaderCount) return fail('HEADERS_TOO_LARGE', `more than ${limits.maxHeaderCount} header fields`);
  const headers: Header[] = [];
  for (const line of lines) {
    if (line.startsWith(' ') || line.startsWith('\t')) return fail('BAD_REQUEST', 'obsolete line folding in header');
    const colon = line.indexOf(':');
    if (colon <= 0) return fail('BAD_REQUEST', 'header line without a field name');
    const name = line.slice(0, colon);
    if (!isToken(name)) return fail('BAD_REQUEST', `invalid header field name ${JSON.stringify(name.slice(0, 40))}`);
    const value = trimBlanks(line, colon + 1);
    if (BAD_VALUE_RE.test(value)) return fail('BAD_REQUEST', `control character in header ${name}`);
    headers.push({ name, value });
  }
  return { kind: 'ok', value: headers, consumed: 0 };
}

/** All values of one header (case-insensitive name). */
export function headerValues(headers: readonly Header[], lowerName: string): string[] {
  const out: string[] = [];
  for (const h of headers) if (h.name.toLowerCase() === lowerName) out.push(h.value);
  return out;
}

/** Whether a comma-separated header (e.g. Connection) lists a token. */
export function hasToken(headers: readonly Header[], lowerName: string, token: string): boolean {
  for (const v of headerValues(headers, lowerName)) {
    for (const t of v.split(',')) if (t.trim().toLowerCase() === token) return true;
  }
  return false;
}

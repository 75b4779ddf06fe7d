/** HTTP/1.x request and response heads, body framing, Basic credentials and chunked bodies (both directions share the scanner). */
import { parseRequestHead, type RequestHead } from '../../../src/protocol/http/request-head.js';
import { parseResponseHead, type ResponseHead } from '../../../src/protocol/http/response-head.js';
import { requestFraming, responseFraming } from '../../../src/protocol/http/message-framing.js';
import { parseBasicCredentials } from '../../../src/protocol/http/proxy-authorization.js';
import { ChunkedScanner } from '../../../src/protocol/http/chunked-scanner.js';
import { LIMITS } from '../../../src/shared/limits.js';
import type { Header } from '../../../src/protocol/http/head-lines.js';
import { checkParse, inputRng, timed, violation } from '../properties.js';
import { randomCuts } from '../mutate.js';
import { gen, type FuzzTarget } from '../target.js';
import type { Rng } from '../rng.js';

const LIMITS_HEAD = { maxHeadBytes: LIMITS.maxHeadBytes, maxHeaderCount: LIMITS.maxHeaderCount };

function headers(rng: Rng): string[] {
  const out: string[] = [];
  const pool = [
    () => `Host: ${gen.domain(rng)}:${gen.port(rng)}`,
    () => `Content-Length: ${rng.pick([0, 1, 5, 100, 2 ** 31, 999999999999999])}`,
    () => `Transfer-Encoding: ${rng.pick(['chunked', 'gzip, chunked', 'identity', 'chunked, chunked'])}`,
    () => `Connection: ${rng.pick(['close', 'keep-alive', 'Upgrade, close'])}`,
    () => `Proxy-Authorization: Basic ${Buffer.from(`${gen.label(rng)}:${gen.text(rng, 20)}`).toString('base64')}`,
    () => `X-Hopgate-${rng.pick(['Country', 'Session', 'City', 'Bogus'])}: ${gen.label(rng)}`,
    () => `${gen.label(rng)}: ${gen.text(rng, 40)}`,
  ];
  const n = rng.int(8);
  for (let i = 0; i < n; i++) out.push(rng.pick(pool)());
  return out;
}

function headText(lines: readonly string[]): string {
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function serializeRequest(v: RequestHead): Buffer {
  return Buffer.from(headText([`${v.method} ${v.target} HTTP/${v.version}`, ...v.headers.map((h) => `${h.name}: ${h.value}`)]), 'latin1');
}

function serializeResponse(v: ResponseHead): Buffer {
  const status = `HTTP/${v.version} ${v.status}${v.reason === '' ? '' : ` ${v.reason}`}`;
  return Buffer.from(headText([status, ...v.headers.map((h) => `${h.name}: ${h.value}`)]), 'latin1');
}

/** Framing and credentials are read from every accepted head: they must answer, not throw. */
function checkHeaderUsers(headersIn: readonly Header[]): void {
  for (const h of headersIn) {
    if (h.name.toLowerCase() !== 'proxy-authorization') continue;
    const creds = timed('parseBasicCredentials', () => parseBasicCredentials(h.value));
    if (creds === undefined || creds.password === undefined) continue;
    const again = parseBasicCredentials(`Basic ${Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64')}`);
    if (again?.username !== creds.username || again.password !== creds.password) violation('round-trip', 'Basic credentials do not survive re-encoding');
  }
}

function framingShape(what: string, r: { kind: string }): void {
  if (r.kind !== 'ok' && r.kind !== 'error') violation('result-shape', `${what} returned ${r.kind}`);
}

export const requestHead: FuzzTarget = {
  name: 'http.request-head',
  generate(rng) {
    const method = rng.pick(['GET', 'CONNECT', 'POST', 'HEAD', 'PUT', 'OPTIONS']);
    const target = method === 'CONNECT' ? `${gen.domain(rng)}:${gen.port(rng)}` : rng.chance(0.5) ? `http://${gen.domain(rng)}/${gen.label(rng)}` : `/${gen.label(rng)}`;
    return Buffer.from((rng.chance(0.1) ? '\r\n' : '') + headText([`${method} ${target} HTTP/1.${rng.int(2)}`, ...headers(rng)]), 'latin1');
  },
  check(input) {
    checkParse(
      {
        name: this.name,
        parse: (b) => parseRequestHead(b, LIMITS_HEAD),
        incremental: true,
        maxPending: LIMITS_HEAD.maxHeadBytes,
        encode: serializeRequest,
        canon: ({ headBytes: _, ...rest }) => rest,
        extra: (v) => {
          framingShape('requestFraming', timed('requestFraming', () => requestFraming(v)));
          checkHeaderUsers(v.headers);
        },
      },
      input,
    );
  },
};

export const responseHead: FuzzTarget = {
  name: 'http.response-head',
  generate(rng) {
    const status = rng.pick([100, 101, 200, 204, 206, 301, 304, 404, 407, 500, 502, 999]);
    return Buffer.from(headText([`HTTP/1.${rng.int(2)} ${status}${rng.chance(0.8) ? ` ${gen.text(rng, 12)}` : ''}`, ...headers(rng)]), 'latin1');
  },
  check(input) {
    checkParse(
      {
        name: this.name,
        parse: (b) => parseResponseHead(b, LIMITS_HEAD),
        incremental: true,
        maxPending: LIMITS_HEAD.maxHeadBytes,
        encode: serializeResponse,
        canon: ({ headBytes: _, ...rest }) => rest,
        extra: (v) => {
          for (const method of ['GET', 'HEAD', 'CONNECT']) framingShape('responseFraming', timed('responseFraming', () => responseFraming(v, method)));
        },
      },
      input,
    );
  },
};

/** A valid chunked body (sizes, extensions, trailers), then bytes of the next message. */
function chunkedBody(rng: Rng): Buffer {
  const parts: string[] = [];
  const n = rng.int(5);
  for (let i = 0; i < n; i++) {
    const size = rng.chance(0.1) ? rng.pick([1, 4096]) : rng.range(1, 40);
    const ext = rng.chance(0.2) ? `;${gen.label(rng)}=${gen.label(rng)}` : rng.chance(0.1) ? ' ' : '';
    parts.push(`${rng.chance(0.5) ? size.toString(16) : size.toString(16).toUpperCase().padStart(rng.range(1, 6), '0')}${ext}\r\n${'x'.repeat(size)}\r\n`);
  }
  parts.push('0\r\n');
  if (rng.chance(0.3)) parts.push(`${gen.label(rng)}: ${gen.text(rng, 20)}\r\n`);
  parts.push('\r\n');
  const body = Buffer.from(parts.join(''), 'latin1');
  return rng.chance(0.3) ? Buffer.concat([body, Buffer.from('GET / HTTP/1.1\r\n\r\n')]) : body;
}

interface ScanOutcome {
  readonly used: number;
  readonly done: boolean;
  readonly failed: boolean;
}

function scan(input: Buffer, cuts: readonly number[]): ScanOutcome {
  const s = new ChunkedScanner();
  let used = 0;
  let prev = 0;
  for (const cut of [...cuts, input.length]) {
    const chunk = input.subarray(prev, cut);
    prev = cut;
    const n = timed('ChunkedScanner.feed', () => s.feed(chunk), false);
    if (n === -1) {
      if (typeof s.error !== 'string' || s.error === '') violation('result-shape', 'scanner failed without an error text');
      if (s.feed(Buffer.from('0\r\n\r\n')) !== -1) violation('incremental', 'scanner recovered after an error');
      return { used, done: false, failed: true };
    }
    if (!Number.isInteger(n) || n < 0 || n > chunk.length) violation('consumed-within-input', `feed of ${chunk.length} bytes returned ${n}`);
    used += n;
    if (s.done) {
      if (s.feed(Buffer.from('x')) !== 0) violation('consumed-within-input', 'scanner took bytes after the body ended');
      return { used, done: true, failed: false };
    }
    if (n !== chunk.length) violation('consumed-within-input', `scanner stopped at ${n} of ${chunk.length} without ending the body`);
  }
  return { used, done: false, failed: false };
}

export const chunked: FuzzTarget = {
  name: 'http.chunked',
  generate: chunkedBody,
  check(input) {
    const whole = scan(input, []);
    const split = scan(input, randomCuts(input.length, inputRng(input), 12));
    const bytewise = input.length <= 512 ? scan(input, Array.from({ length: Math.max(0, input.length - 1) }, (_, i) => i + 1)) : split;
    for (const other of [split, bytewise]) {
      if (other.done !== whole.done || other.failed !== whole.failed || (!whole.failed && other.used !== whole.used)) {
        violation('incremental', `whole input ${JSON.stringify(whole)}, split ${JSON.stringify(other)}`);
      }
    }
  },
};

export const HTTP_TARGETS: readonly FuzzTarget[] = [requestHead, responseHead, chunked];

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasToken, headerValues, isToken, splitHead, type Header } from './head-lines.js';
import { parseRequestHead } from './request-head.js';
import { parseResponseHead } from './response-head.js';
import { requestFraming, responseFraming } from './message-framing.js';
import { ChunkedScanner } from './chunked-scanner.js';
import { encodeBasicChallenge, parseBasicCredentials } from './proxy-authorization.js';
import { encodeProxyResponse } from './response-writer.js';

const LIMITS = { maxHeadBytes: 8192, maxHeaderCount: 100 };
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const req = (s: string, limits = LIMITS) => parseRequestHead(b(s), limits);
const res = (s: string, limits = LIMITS) => parseResponseHead(b(s), limits);

/** Assert an error result and return its message. */
function refused(r: { kind: string; code?: string; message?: string }, code: string, what: string): string {
  assert.equal(r.kind, 'error', `${what}: expected error, got ${r.kind}`);
  assert.equal(r.code, code, what);
  return r.message!;
}

test('request head: "more" at every split, then the same value; exact consumed, pipelined bytes left', () => {
  const head = 'GET http://example.com/a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\nX-Pad: \t padded  value \t\r\nX-Latin: caf\xe9\r\n\r\n';
  const next = 'POST http://example.com/ HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi';
  const expected = {
    method: 'GET',
    target: 'http://example.com/a?b=1',
    version: '1.1',
    headers: [
      { name: 'Host', value: 'example.com' },
      { name: 'X-Empty', value: '' },
      { name: 'X-Pad', value: 'padded  value' }, // OWS trimmed at both ends, inner spaces kept
      { name: 'X-Latin', value: 'caf\xe9' }, // obs-text is allowed
    ],
    headBytes: head.length,
  };
  const all = head + next;
  for (let n = 0; n < head.length; n++) assert.equal(req(all.slice(0, n)).kind, 'more', `prefix ${n}`);
  for (let n = head.length; n <= all.length; n++) {
    assert.deepEqual(req(all.slice(0, n)), { kind: 'ok', value: expected, consumed: head.length }, `prefix ${n}`);
  }
  // The pipelined request parses on its own from where the first one stopped.
  const second = req(all.slice(head.length));
  assert.ok(second.kind === 'ok');
  assert.equal(second.value.method, 'POST');
  assert.equal(second.consumed, next.length - 2);
});

test('request head: leading empty lines are skipped but counted; CONNECT and HTTP/1.0', () => {
  const s = '\r\n\r\nCONNECT example.com:443 HTTP/1.0\r\nHost: example.com:443\r\n\r\n';
  const r = req(s + '\x16\x03\x01');
  assert.ok(r.kind === 'ok');
  assert.deepEqual([r.value.method, r.value.target, r.value.version, r.consumed, r.value.headBytes], ['CONNECT', 'example.com:443', '1.0', s.length, s.length]);
  assert.equal(req('\r\n\r\n').kind, 'more');
});

test('request line: malformed shapes are refused', () => {
  for (const line of ['GET  / HTTP/1.1', ' GET / HTTP/1.1', 'GET / HTTP/1.1 ', 'GET /', 'G(T / HTTP/1.1', 'GET /\x7f HTTP/1.1', 'GET /\xe9 HTTP/1.1', 'GET / HTTP/2.0', 'GET / http/1.1', 'GET / HTTP/1.10']) {
    refused(req(`${line}\r\nHost: a\r\n\r\n`), 'BAD_REQUEST', JSON.stringify(line));
  }
  assert.match(refused(req('GET / HTTP/0.9\r\n\r\n'), 'BAD_REQUEST', '0.9'), /unsupported protocol version "HTTP\/0.9"/);
});

test('bare LF and bare CR are refused, also before the head is complete', () => {
  for (const s of ['GET / HTTP/1.1\nHost: a\r\n\r\n', 'GET / HTTP/1.1\r\nHost: a\n\r\n\r\n', 'GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n', 'GET / HTTP/1.1\r\nX: 1\r\r\n\r\n']) {
    assert.match(refused(req(s), 'BAD_REQUEST', JSON.stringify(s)), /bare CR or LF/);
  }
  // An all-LF head never contains CRLFCRLF: it must be refused now, not left waiting for more bytes.
  refused(req('GET / HTTP/1.1\n\n'), 'BAD_REQUEST', 'LF-only head');
  refused(req('GET / HTTP/1.1\r\nHost: a\n'), 'BAD_REQUEST', 'incomplete head with bare LF');
  refused(req('\r\n\nGET / HTTP/1.1\r\n'), 'BAD_REQUEST', 'bare LF after a skipped empty line');
  refused(req('GET / HTTP/1.1\rX'), 'BAD_REQUEST', 'bare CR in incomplete head');
  assert.equal(req('GET / HTTP/1.1\r').kind, 'more', 'a trailing CR may still be followed by LF');
  refused(res('HTTP/1.1 200 OK\nContent-Length: 0\n\n'), 'BAD_REQUEST', 'LF-only response');
});

test('header lines: obs-fold, space before colon, missing name and control characters are refused', () => {
  const cases: Array<[string, RegExp]> = [
    ['X-A: 1\r\n folded', /obsolete line folding/],
    ['X-A: 1\r\n\tfolded', /obsolete line folding/],
    ['Host : example.com', /invalid header field name "Host "/],
    ['Host\t: example.com', /invalid header field name/],
    ['X(A): 1', /invalid header field name/],
    [': value', /without a field name/],
    ['NoColonHere', /without a field name/],
    ['X-Nul: a\x00b', /control character in header X-Nul/],
    ['X-Esc: a\x1bb', /control character in header X-Esc/],
    ['X-Del: a\x7fb', /control character in header X-Del/],
    ['X-Vt: \x0b', /control character in header X-Vt/],
  ];
  for (const [line, why] of cases) assert.match(refused(req(`GET / HTTP/1.1\r\n${line}\r\n\r\n`), 'BAD_REQUEST', line), why);
  const tab = req('GET / HTTP/1.1\r\nX-Tab: a\tb\r\n\r\n'); // HTAB inside a value is legal
  assert.ok(tab.kind === 'ok');
  assert.equal(tab.value.headers[0]!.value, 'a\tb');
});

test('too many header fields and too large heads give HEADERS_TOO_LARGE', () => {
  const small = { maxHeadBytes: 64, maxHeaderCount: 3 };
  const fields = (n: number): string => Array.from({ length: n }, (_, i) => `H${i}: v\r\n`).join('');
  assert.equal(req(`GET / HTTP/1.1\r\n${fields(3)}\r\n`, small).kind, 'ok');
  assert.match(refused(req(`GET / HTTP/1.1\r\n${fields(4)}\r\n`, small), 'HEADERS_TOO_LARGE', '4 fields'), /more than 3 header fields/);
  // A head of exactly maxHeadBytes is accepted; one byte more is not.
  const exact = `GET / HTTP/1.1\r\nX: ${'a'.repeat(64 - 23)}\r\n\r\n`;
  assert.equal(exact.length, 64);
  assert.equal(req(exact, { ...small, maxHeadBytes: 64 }).kind, 'ok');
  refused(req(exact.replace('X: ', 'X: a'), small), 'HEADERS_TOO_LARGE', '65-byte head');
  // Without a terminator: waiting below the limit, refused once the limit is reached.
  assert.equal(req('G'.repeat(63), small).kind, 'more');
  refused(req('G'.repeat(64), small), 'HEADERS_TOO_LARGE', 'unterminated 64 bytes');
  refused(res(`HTTP/1.1 200 OK\r\n${fields(4)}\r\n`, small), 'HEADERS_TOO_LARGE', 'response fields');
});

test('response head: status line forms, split points, pipelined body left', () => {
  const head = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, Close\r\n\r\n';
  for (let n = 0; n < head.length; n++) assert.equal(res(head.slice(0, n)).kind, 'more', `prefix ${n}`);
  const r = res(head + 'hello');
  assert.ok(r.kind === 'ok');
  assert.equal(r.consumed, head.length);
  assert.deepEqual([r.value.version, r.value.status, r.value.reason, r.value.headBytes], ['1.1', 200, 'OK', head.length]);
  assert.equal(hasToken(r.value.headers, 'connection', 'close'), true);
  const r10 = res('HTTP/1.0 404 Not  Found\r\n\r\n');
  assert.ok(r10.kind === 'ok');
  assert.deepEqual([r10.value.version, r10.value.status, r10.value.reason, r10.value.headers], ['1.0', 404, 'Not  Found', []]);
  const bare = res('HTTP/1.1 204\r\n\r\n');
  assert.ok(bare.kind === 'ok' && bare.value.reason === '' && bare.value.status === 204);
  for (const line of ['HTTP/1.1 20 OK', 'HTTP/1.1 099 Low', 'HTTP/2 200 OK', 'HTTP/1.1 200 O\x01K', 'http/1.1 200 OK', 'HTTP/1.1  200 OK']) {
    assert.match(refused(res(`${line}\r\n\r\n`), 'BAD_REQUEST', line), /malformed status line/);
  }
  refused(res('\r\nHTTP/1.1 200 OK\r\n\r\n'), 'BAD_REQUEST', 'responses do not skip empty lines');
});

test('header helpers: case-insensitive lookup and comma-list tokens', () => {
  const hs: Header[] = [{ name: 'Connection', value: 'Upgrade , keep-alive' }, { name: 'connection', value: 'CLOSE' }, { name: 'X', value: 'closed' }];
  assert.deepEqual(headerValues(hs, 'connection'), ['Upgrade , keep-alive', 'CLOSE']);
  assert.equal(hasToken(hs, 'connection', 'upgrade'), true);
  assert.equal(hasToken(hs, 'connection', 'close'), true);
  assert.equal(hasToken(hs, 'x', 'close'), false, 'whole tokens only');
  assert.deepEqual(['Content-Type', "!#$%&'*+-.^_`|~9", 'a b', 'a:b', '', 'caf\xe9'].map(isToken), [true, true, false, false, false, false]);
  const split = splitHead(b('A\r\nB\r\n\r\nrest'), LIMITS, false);
  assert.deepEqual(split, { kind: 'ok', value: ['A', 'B'], consumed: 8 });
});

const hdrs = (...pairs: Array<[string, string]>): Header[] => pairs.map(([name, value]) => ({ name, value }));
const framing = (version: string, ...pairs: Array<[string, string]>) => requestFraming({ version, headers: hdrs(...pairs) });

test('requestFraming refuses every request smuggling shape', () => {
  const bad: Array<[ReturnType<typeof framing>, RegExp]> = [
    [framing('1.1', ['Content-Length', '5'], ['Transfer-Encoding', 'chunked']), /both Content-Length and Transfer-Encoding/],
    [framing('1.1', ['Transfer-Encoding', 'xchunked']), /unsupported Transfer-Encoding/],
    [framing('1.1', ['Transfer-Encoding', 'chunked, identity']), /unsupported Transfer-Encoding/],
    [framing('1.1', ['Transfer-Encoding', 'gzip, chunked']), /unsupported Transfer-Encoding/],
    [framing('1.1', ['Transfer-Encoding', 'chunked'], ['transfer-encoding', 'chunked']), /unsupported Transfer-Encoding/],
    [framing('1.1', ['Transfer-Encoding', '']), /unsupported Transfer-Encoding/],
    [framing('1.0', ['Transfer-Encoding', 'chunked']), /HTTP\/1.0/],
    [framing('1.1', ['Content-Length', '5'], ['Content-Length', '6']), /conflicting Content-Length/],
    [framing('1.1', ['Content-Length', '5, 6']), /conflicting Content-Length/],
  ];
  for (const [r, why] of bad) assert.ok(r.kind === 'error' && why.test(r.message), `${why}: ${JSON.stringify(r)}`);
  for (const v of ['+5', '-1', '0x5', '5 5', '', '5,', '1e3', ' ', '1234567890123456']) {
    assert.deepEqual(framing('1.1', ['Content-Length', v]), { kind: 'error', message: 'invalid Content-Length' }, JSON.stringify(v));
  }
});

test('requestFraming accepts the unambiguous shapes', () => {
  const length = (n: number) => ({ kind: 'ok', value: { kind: 'length', length: n } });
  assert.deepEqual(framing('1.1', ['Content-Length', '1,1']), length(1), 'an agreeing list is one length');
  assert.deepEqual(framing('1.1', ['Content-Length', '7'], ['content-length', '007']), length(7));
  assert.deepEqual(framing('1.0', ['Content-Length', '123456789012345']), length(123456789012345));
  assert.deepEqual(framing('1.1', ['Content-Length', '0']), { kind: 'ok', value: { kind: 'none' } });
  assert.deepEqual(framing('1.1'), { kind: 'ok', value: { kind: 'none' } }, 'no body headers: no body');
  assert.deepEqual(framing('1.1', ['transfer-encoding', ' Chunked ']), { kind: 'ok', value: { kind: 'chunked' } });
});

test('responseFraming: HEAD, 1xx, 204, 304, chunked, length and until-close', () => {
  const rf = (status: number, method: string, ...pairs: Array<[string, string]>) => responseFraming({ status, headers: hdrs(...pairs) }, method);
  const kind = (r: ReturnType<typeof rf>): string => (r.kind === 'ok' ? r.value.kind : `error: ${r.message}`);
  assert.equal(kind(rf(200, 'HEAD', ['Content-Length', '100'])), 'none');
  assert.equal(kind(rf(200, 'HEAD', ['Transfer-Encoding', 'chunked'])), 'none');
  for (const s of [100, 101, 103, 199, 204, 304]) assert.equal(kind(rf(s, 'GET', ['Content-Length', '9'])), 'none', `status ${s}`);
  assert.equal(kind(rf(200, 'GET', ['Transfer-Encoding', 'chunked'])), 'chunked');
  assert.equal(kind(rf(200, 'GET', ['Transfer-Encoding', 'gzip, chunked'])), 'chunked');
  assert.equal(kind(rf(200, 'GET', ['Transfer-Encoding', 'chunked, gzip'])), 'until-close', 'not chunked last: read to close');
  assert.equal(kind(rf(200, 'GET')), 'until-close');
  assert.equal(kind(rf(205, 'POST', ['Content-Length', '0'])), 'none');
  assert.deepEqual(rf(200, 'GET', ['Content-Length', '12']), { kind: 'ok', value: { kind: 'length', length: 12 } });
  assert.equal(kind(rf(200, 'GET', ['Content-Length', '3'], ['Transfer-Encoding', 'chunked'])), 'error: both Content-Length and Transfer-Encoding');
  assert.equal(kind(rf(200, 'GET', ['Content-Length', '3'], ['Content-Length', '4'])), 'error: conflicting Content-Length values');
  assert.equal(kind(rf(200, 'GET', ['Content-Length', '+3'])), 'error: invalid Content-Length');
});

const VALID_BODIES = [
  '5\r\nhello\r\n0\r\n\r\n',
  '0\r\n\r\n',
  // Extensions (with BWS and a quoted value), upper/lower hex, a trailer section.
  'A;name=value;q="a b"\r\n0123456789\r\n1a \t;x\r\n' + 'z'.repeat(26) + '\r\n0;last\r\nX-Trailer: v\r\nY: \xe9\r\n\r\n',
  'FF\r\n' + 'y'.repeat(255) + '\r\n0 ;e\r\n\r\n',
  // Leading zeros are not significant (16 characters at most).
  '000000000000000a\r\n0123456789\r\n0\r\n\r\n',
  // Data that looks like a terminator must be counted, not matched.
  '7\r\n0\r\n\r\nab\r\n0\r\n\r\n',
];
const AFTER = 'GET http://next/ HTTP/1.1\r\n\r\n';

test('ChunkedScanner: whole buffer, every two-way split and byte by byte leave the bytes after the body', () => {
  for (const body of VALID_BODIES) {
    const whole = new ChunkedScanner();
    assert.equal(whole.feed(b(body + AFTER)), body.length, JSON.stringify(body));
    assert.ok(whole.done);
    assert.equal(whole.feed(b(AFTER)), 0, 'nothing more once done');
    for (let cut = 1; cut < body.length; cut++) {
      const s = new ChunkedScanner();
      assert.equal(s.feed(b(body.slice(0, cut))), cut);
      assert.equal(s.done, false, `cut ${cut}`);
      assert.equal(s.feed(b(body.slice(cut) + AFTER)), body.length - cut, `cut ${cut}`);
      assert.ok(s.done);
    }
    const bytewise = new ChunkedScanner();
    for (let i = 0; i < body.length; i++) {
      assert.equal(bytewise.done, false, `done early at ${i}`);
      assert.equal(bytewise.feed(b(body[i]!)), 1);
    }
    assert.ok(bytewise.done);
    assert.equal(bytewise.feed(b('G')), 0);
    assert.equal(bytewise.error, undefined);
  }
  assert.equal(new ChunkedScanner().feed(Buffer.alloc(0)), 0);
});

test('ChunkedScanner: malformed bodies return -1 with a reason, byte by byte too, and stay failed', () => {
  const cases: Array<[string, RegExp]> = [
    ['\r\n', /missing chunk size/],
    ['-5\r\n', /missing chunk size/],
    [';x\r\n', /missing chunk size/],
    ['0x5\r\n', /invalid chunk size/],
    ['5\nhello\r\n', /invalid chunk size/],
    ['5 6\r\nhello\r\n', /invalid chunk size/], // whitespace may only lead to ';'
    ['5 x\r\nhello\r\n', /invalid chunk size/],
    ['5\r\rhello', /size line must end with CRLF/],
    ['5;a\nhello\r\n', /bare LF or control character in chunk extension/],
    ['5;a\x01b\r\nhello\r\n', /control character in chunk extension/],
    ['1;' + 'e'.repeat(4097) + '\r\n', /chunk extension too long/],
    ['1000000000000\r\n', /chunk size too large/], // 13 hex digits
    ['00000000000000001\r\n', /chunk size too large/], // 17 characters
    ['10000000000000001\r\n', /chunk size too large/],
    ['+5\r\nhello\r\n', /missing chunk size/],
    ['5 \r\nhello\r\n', /invalid chunk size/], // whitespace only before an extension
    ['5\t\r\nhello\r\n', /invalid chunk size/],
    ['0\r\nGET /smuggled HTTP/1.1\r\n\r\n', /trailer line is not a header field/],
    ['0\r\n: v\r\n\r\n', /trailer line is not a header field/],
    ['0\r\nX-No-Colon\r\n\r\n', /trailer line is not a header field/],
    ['0\r\nX : v\r\n\r\n', /trailer line is not a header field/],
    ['5\r\nhelloX\r\n0\r\n\r\n', /not followed by CRLF/],
    ['5\r\nhello\n0\r\n\r\n', /not followed by CRLF/],
    ['5\r\nhello\rX', /not followed by CRLF/],
    ['0\r\nX: a\nY: b\r\n\r\n', /bare LF or control character in trailer/],
    ['0\r\nX: a\x00\r\n\r\n', /control character in trailer/],
    ['0\r\nX: a\rY\r\n\r\n', /trailer line must end with CRLF/],
    ['0\r\n' + `X: ${'a'.repeat(4094)}\r\n`, /trailer too large/],
    ['0\r\n' + `X: ${'a'.repeat(4000)}\r\n`.repeat(5), /trailer too large/],
    ['0\r\n\rX', /must end with CRLF/],
    ['0\r\n\n', /bare LF/],
  ];
  for (const [body, why] of cases) {
    const whole = new ChunkedScanner();
    assert.equal(whole.feed(b(body)), -1, JSON.stringify(body));
    assert.match(whole.error ?? '', why, JSON.stringify(body));
    assert.equal(whole.feed(b('0\r\n\r\n')), -1, 'an error is final');
    assert.equal(whole.done, false);
    const bytewise = new ChunkedScanner();
    const results = [...body].map((c) => bytewise.feed(b(c)));
    assert.ok(results.includes(-1), `byte-wise ${JSON.stringify(body)}`);
    assert.match(bytewise.error ?? '', why);
  }
  // Twelve digits is the limit, not an error: 0xffffffffffff bytes of data are awaited.
  const big = new ChunkedScanner();
  assert.equal(big.feed(b('ffffffffffff\r\nabc')), 17);
  assert.equal(big.done, false);
});

const enc = (s: string | Buffer): string => Buffer.from(s).toString('base64');

test('parseBasicCredentials: valid forms', () => {
  assert.deepEqual(parseBasicCredentials(`Basic ${enc('bob-cc-us:secret')}`), { username: 'bob-cc-us', password: 'secret' });
  assert.deepEqual(parseBasicCredentials(`basic ${enc('a:b')}`), { username: 'a', password: 'b' }, 'scheme is case-insensitive');
  assert.deepEqual(parseBasicCredentials(`BASIC   ${enc('a:b')}  `), { username: 'a', password: 'b' });
  assert.deepEqual(parseBasicCredentials(`Basic ${enc('bob:pa:ss:')}`), { username: 'bob', password: 'pa:ss:' }, 'split at the first colon');
  assert.deepEqual(parseBasicCredentials(`Basic ${enc('bob:')}`), { username: 'bob', password: '' });
  assert.deepEqual(parseBasicCredentials(`Basic ${enc(':pw')}`), { username: '', password: 'pw' });
  assert.deepEqual(parseBasicCredentials(`Basic ${enc('jörg:pässwörd')}`), { username: 'jörg', password: 'pässwörd' });
  assert.deepEqual(parseBasicCredentials('Basic YTpiYw'), { username: 'a', password: 'bc' }, 'padding may be omitted');
});

test('parseBasicCredentials: malformed headers give undefined', () => {
  for (const h of [
    `Basic ${enc('bob')}`, // no colon
    'Basic !!!!',
    'Basic YT=pi',
    'Basic YTpiY', // a dangling sixth-bit character Node would silently drop
    'Basic YTpiYx==', // non-canonical trailing bits
    `Basic ${enc('a:b')} extra`,
    `Basic\t${enc('a:b')}`,
    'Basic',
    'Basic ',
    `Bearer ${enc('a:b')}`,
    `Basicx ${enc('a:b')}`,
    `Basic ${enc(Buffer.from([0x61, 0x3a, 0xff]))}`, // invalid UTF-8 must not become U+FFFD
    `Basic ${enc(`u:${'p'.repeat(1600)}`)}`, // longer than 2048 base64 characters
  ]) {
    assert.equal(parseBasicCredentials(h), undefined, h.slice(0, 60));
  }
  assert.equal(encodeBasicChallenge('hop"ga\\te'), 'Basic realm="hopgate", charset="UTF-8"');
});

test('encodeProxyResponse: exact bytes, and CR/LF never reach the head', () => {
  assert.equal(encodeProxyResponse(200, 'Connection established').toString('latin1'), 'HTTP/1.1 200 Connection established\r\nContent-Length: 0\r\n\r\n');
  const out = encodeProxyResponse(407, 'Denied\r\nX-Injected: 1', {
    headers: [['X-A', 'v\r\n\r\nHTTP/1.1 200 OK'], ['X-B\n', 'tab\there']],
    body: 'héllo\n',
    close: true,
  });
  const headEnd = out.indexOf('\r\n\r\n') + 4;
  assert.deepEqual(out.subarray(0, headEnd).toString('latin1').split('\r\n'), [
    'HTTP/1.1 407 Denied  X-Injected: 1',
    'X-A: v    HTTP/1.1 200 OK',
    'X-B : tab here',
    'Content-Length: 7', // bytes, not characters
    'Connection: close',
    '',
    '',
  ]);
  assert.equal(out.subarray(headEnd).toString('utf8'), 'héllo\n');
  // latin1 keeps only the low byte: U+010D U+010A would become CR LF if not cleaned first.
  const sneaky = encodeProxyResponse(502, 'Bad\u010d\u010aX-Evil: 1', { headers: [['X-C', '\u0a0d\u0a0a']] });
  const parsed = parseResponseHead(sneaky, LIMITS);
  assert.ok(parsed.kind === 'ok');
  assert.equal(parsed.value.reason, 'Bad  X-Evil: 1');
  assert.deepEqual(parsed.value.headers, [{ name: 'X-C', value: '' }, { name: 'Content-Length', value: '0' }]);
  assert.equal(parsed.consumed, sneaky.length);
});

test('header values are trimmed in linear time: a long run of inner spaces is not quadratic', () => {
  // A regex trim (/^[ \t]+|[ \t]+$/g) rescans every inner run of blanks to the end: ~2·10^9 steps for 64 KiB.
  const value = `a${' '.repeat(64 * 1024)}b`;
  const head = Buffer.from(`GET http://x/ HTTP/1.1\r\nHost: x\r\nX-Pad:  ${value} \t\r\n\r\n`, 'latin1');
  const started = process.hrtime.bigint();
  const r = parseRequestHead(head, { maxHeadBytes: 128 * 1024, maxHeaderCount: 100 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.equal(r.kind, 'ok');
  if (r.kind === 'ok') assert.equal(r.value.headers.find((h) => h.name === 'X-Pad')?.value, value);
  assert.ok(ms < 1000, `parsing took ${ms.toFixed(0)} ms`);
});

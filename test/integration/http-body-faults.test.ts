/**
 * One customer's broken request body must end only that customer's session:
 * an upload the client aborts, malformed chunked framing (overflowing sizes,
 * signs, bare LF) get a clear 400 or a closed connection, and the ingress
 * worker (1 worker, and 2 in a cluster) keeps serving everyone else, on
 * connections already open and on new ones.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listen0 } from '../helpers/net.js';
import { curl } from '../helpers/curl.js';
import { USER } from '../helpers/ingress.js';
import { startCliIngress, type CliIngress } from '../helpers/cli-ingress.js';
import { startTestIngress } from '../helpers/ingress.js';
import { PROXY_AUTH, proxiedGet, RawHttp } from '../helpers/http-raw.js';

let web: Server;
let webPort: number;
/** Every request path the target saw. */
const seen: string[] = [];
let dir: string;
let upload: string;

before(async () => {
  web = createServer((req, res) => {
    seen.push(req.url ?? '');
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(`${req.method} ${req.url} body=${n}`));
  });
  webPort = await listen0(web);
  dir = mkdtempSync(join(tmpdir(), 'hopgate-body-faults-'));
  upload = join(dir, 'up.bin');
  writeFileSync(upload, Buffer.alloc(1_000_000));
});

after(() => {
  web.closeAllConnections();
  web.close();
  rmSync(dir, { recursive: true, force: true });
});

const chunkedPost = (extra = ''): string =>
  `POST http://127.0.0.1:${webPort}/up HTTP/1.1\r\nHost: 127.0.0.1:${webPort}\r\n${PROXY_AUTH}Transfer-Encoding: chunked\r\n${extra}\r\n`;

/** Malformed chunked bodies, each with what the 400 must name. */
const BAD_BODIES: ReadonlyArray<[string, string]> = [
  ['10000000000000001\r\n', 'chunk size too large'],
  ['-1\r\n', 'missing chunk size'],
  ['5\nhello\r\n0\r\n\r\n', 'invalid chunk size'],
  ['5 \r\nhello\r\n0\r\n\r\n', 'invalid chunk size'],
  ['5\r\nhelloXX0\r\n\r\n', 'chunk data not followed by CRLF'],
];

async function innocentRoundTrip(c: RawHttp, i: number): Promise<void> {
  c.write(proxiedGet(webPort, `/innocent-${i}`));
  const r = await c.readResponse(5000);
  assert.equal(r.status, 200, r.head);
  assert.equal(r.body.toString(), `GET /innocent-${i} body=0`);
}

async function attackAndSurvive(ing: CliIngress, rounds: number): Promise<void> {
  // Innocent clients with connections already open (with 2 workers, spread over both).
  const innocents = await Promise.all(Array.from({ length: 6 }, () => RawHttp.open(ing.port)));
  for (const [i, c] of innocents.entries()) await innocentRoundTrip(c, i);

  for (let round = 0; round < rounds; round++) {
    // The client aborts its upload (curl -m1 while rate-limited to 10 kB/s).
    const r = await curl(['-m', '1', '--limit-rate', '10k', '-x', `http://${USER.login}:${USER.password}@127.0.0.1:${ing.port}`, '-X', 'POST', '--data-binary', `@${upload}`, `http://127.0.0.1:${webPort}/`], 5000);
    assert.equal(r.code, 28, `curl timed out by its own -m 1: ${r.stderr}`);

    for (const [body, reason] of BAD_BODIES) {
      const c = await RawHttp.open(ing.port);
      // Pipelined after the bad body: must never be read as a request.
      c.write(chunkedPost() + body + proxiedGet(webPort, '/smuggled'));
      const res = await c.readResponse(5000);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.head}`);
      assert.match(res.head, /X-Hopgate-Error: BAD_REQUEST/);
      assert.match(res.body.toString(), new RegExp(reason), JSON.stringify(body));
      assert.notEqual(await c.ended(3000), 'open', 'the connection is closed after a bad body');
      assert.equal(c.pending.length, 0, 'nothing after the 400 (the pipelined request was not served)');
    }

    // A declared length the client never delivers: it resets, or half-closes.
    for (const how of ['reset', 'fin'] as const) {
      const c = await RawHttp.open(ing.port);
      c.write(`POST http://127.0.0.1:${webPort}/short HTTP/1.1\r\nHost: x\r\n${PROXY_AUTH}Content-Length: 100000\r\n\r\n0123456789`);
      await new Promise((r) => setTimeout(r, 50));
      if (how === 'reset') c.socket.resetAndDestroy();
      else c.socket.end();
      if (how === 'fin') {
        const res = await c.readResponse(5000);
        assert.equal(res.status, 400, res.head);
        assert.match(res.body.toString(), /peer closed in the middle of a message/);
      }
      c.close();
    }
  }

  // Everyone else is still served: on the connections they had, and on new ones.
  for (const [i, c] of innocents.entries()) await innocentRoundTrip(c, 100 + i);
  for (const c of innocents) c.close();
  const fresh = await curl(['-x', `http://${USER.login}:${USER.password}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${webPort}/after`]);
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.equal(fresh.stdout, 'GET /after body=0');
  assert.equal(ing.proc.exitCode, null, 'the ingress is running');
  assert.doesNotMatch(ing.stderr(), /ProxyError|unhandled|exited/i, 'no worker crashed or restarted');
}

for (const workers of [1, 2]) {
  test(`${workers} worker(s): aborted uploads and malformed chunked bodies end only their own session`, { timeout: 90_000 }, async () => {
    const ing = await startCliIngress(workers, { log: { level: 'error', access: false } });
    try {
      await attackAndSurvive(ing, workers === 1 ? 1 : 3);
    } finally {
      await ing.stop();
    }
  });
}

/** Request shapes two parsers could frame differently: refused with 400, the connection closed. */
const SMUGGLING: ReadonlyArray<[string, string]> = [
  ['Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', 'both Content-Length and Transfer-Encoding'],
  ['Content-Length: 5\r\nContent-Length: 6\r\n', 'conflicting Content-Length'],
  ['Content-Length: 5, 6\r\n', 'conflicting Content-Length'],
  ['Content-Length: +5\r\n', 'invalid Content-Length'],
  ['Transfer-Encoding: chunked, identity\r\n', 'unsupported Transfer-Encoding'],
  ['Transfer-Encoding: xchunked\r\n', 'unsupported Transfer-Encoding'],
  ['Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', 'unsupported Transfer-Encoding'],
  ['Transfer-Encoding : chunked\r\n', 'invalid header field name'],
  ['Transfer-Encoding:\r\n chunked\r\n', 'obsolete line folding'],
  ['X-A: b\nTransfer-Encoding: chunked\r\n', 'bare CR or LF'],
];

test('smuggling-shaped heads, oversized chunk extensions and trailers: 400 and closed, nothing pipelined after them reaches the target', { timeout: 60_000 }, async () => {
  const ing = await startTestIngress();
  try {
    const cases: Array<[string, string]> = [
      ...SMUGGLING.map(([h, why]): [string, string] => [`POST http://127.0.0.1:${webPort}/up HTTP/1.1\r\nHost: 127.0.0.1:${webPort}\r\n${PROXY_AUTH}${h}\r\n5\r\nhello\r\n0\r\n\r\n`, why]),
      [chunkedPost() + `1;${'e'.repeat(5000)}\r\nx\r\n0\r\n\r\n`, 'chunk extension too long'],
      [chunkedPost() + `0\r\n${`X-T: ${'v'.repeat(3000)}\r\n`.repeat(8)}\r\n`, 'trailer too large'],
      [chunkedPost() + '0\r\nGET /smuggled HTTP/1.1\r\n\r\n', 'trailer line is not a header field'],
    ];
    for (const [bytes, why] of cases) {
      const c = await RawHttp.open(ing.port);
      c.write(bytes + proxiedGet(webPort, '/smuggled'));
      const res = await c.readResponse(5000);
      assert.equal(res.status, 400, `${why}: ${res.head}`);
      assert.match(res.body.toString(), new RegExp(why), res.body.toString());
      assert.notEqual(await c.ended(3000), 'open', why);
      assert.equal(c.pending.length, 0, `${why}: nothing after the 400`);
    }
    assert.ok(!seen.includes('/smuggled'), `the target never saw a pipelined request: ${seen.join(' ')}`);
  } finally {
    await ing.stop();
  }
});

test('a slow chunked upload (a byte every 75 ms for 1.5 s, past the 1 s handshake timeout) is forwarded whole, and the next pipelined request is served on the same connection', { timeout: 30_000 }, async () => {
  const ing = await startTestIngress({ limits: { handshakeTimeoutMs: 1000 } });
  try {
    const c = await RawHttp.open(ing.port);
    c.write(chunkedPost());
    const body = '14\r\n' + 'z'.repeat(20) + '\r\n0\r\n\r\n';
    for (const ch of body) {
      c.write(ch);
      // 1.5 s in all: past the handshake timeout (only the head is bound by it), and a load only makes it longer.
      await new Promise((r) => setTimeout(r, 75 * (ch === 'z' ? 1 : 0.1)));
    }
    c.write(proxiedGet(webPort, '/after-slow'));
    const first = await c.readResponse(5000);
    assert.equal(first.status, 200, first.head);
    assert.equal(first.body.toString(), 'POST /up body=20');
    const second = await c.readResponse(5000);
    assert.equal(second.body.toString(), 'GET /after-slow body=0');
    c.close();
  } finally {
    await ing.stop();
  }
});

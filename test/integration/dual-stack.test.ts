/**
 * Dual-stack exits and capability-aware choice with real clients (issue 17):
 * curl in every proxy mode and the npm `socks` client reach IPv4 (127.0.0.1)
 * and IPv6 ([::1]) targets through the random port, every time; the targets
 * see the exit's egress address of their family; UDP associations on the
 * random port never fall on the reverse exit (work connections only: no UDP);
 * pinned exits that cannot serve a request are refused precisely (REP 7 for UDP, REP 8 / HTTP 502
 * FAMILY_UNSUPPORTED for a family the exit lacks).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SocksClient } from 'socks';
import { curl } from '../helpers/curl.js';
import { listen0, startUdpEcho, withTimeout } from '../helpers/net.js';
import { startRangeIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { EXIT_SECRET } from '../helpers/exits.js';
import { reverseEntry, startReverseExit, tunnelCert } from '../helpers/reverse.js';
import { eventually } from '../helpers/eventually.js';
import { socksAssociate } from '../helpers/socks-client.js';
import { EXIT_LOGIN, exitConfig } from '../../src/cli/exit.js';
import { Ingress } from '../../src/ingress/ingress.js';
import { hashPassword } from '../../src/shared/auth/password-hash.js';
import { createLogger } from '../../src/shared/log.js';
import { TargetPolicy } from '../../src/shared/net/target-policy.js';
import type { ReverseExitClient } from '../../src/exit/reverse-client.js';
import { ensureSelfSignedCert } from '../../src/cli/tls-cert.js';

const LOOPBACK = ['127.0.0.0/8', '::1/128'];
const REPEAT = 6; // requests per client mode and target family (each a fresh random choice)

let ing: TestIngress & { base: number };
let exits: Node[] = [];
let rev: ReverseExitClient;
let web4: Server;
let web6: Server;
let port4 = 0;
let port6 = 0;
let proxyCert: { cert: string; key: string };

/** Answers with the source address it saw: which egress carried the request. */
function whoami(): Server {
  return createServer((req, res) => res.end(req.socket.remoteAddress ?? ''));
}

interface Node {
  readonly ip: string;
  readonly node: Ingress;
}

async function forwardExit(ip: string, egress6: string | undefined): Promise<Node> {
  const cfg = exitConfig({ host: ip, port: 0, egress: ip, egress6, allowFrom: ['127.0.0.1/32'], secretHash: await hashPassword(EXIT_SECRET, { ln: 10, r: 8, p: 1 }), allowTargets: LOOPBACK, logLevel: 'silent' });
  return { ip, node: await Ingress.start(cfg, createLogger('silent')) };
}

before(async () => {
  web4 = whoami();
  port4 = await listen0(web4, '127.0.0.1');
  web6 = whoami();
  port6 = await listen0(web6, '::1');
  proxyCert = ensureSelfSignedCert(join(mkdtempSync(join(tmpdir(), 'hopgate-ds-')), 'tls'))!;
  // us-1 and de-1: dual stack; gb-1: IPv4 only; nl-1: reverse, dual stack, work connections only (so no UDP).
  exits = [await forwardExit('127.0.0.2', '::1'), await forwardExit('127.0.0.4', '::1'), await forwardExit('127.0.0.6', undefined)];
  const entry = (id: string, n: Node, country: string, egressIp6?: string) => ({
    id, kind: 'hopgate' as const, host: n.ip, port: n.node.ports()[0]!, username: EXIT_LOGIN, password: EXIT_SECRET, egressIp: n.ip, country, ...(egressIp6 ? { egressIp6 } : {}),
  });
  const t = tunnelCert();
  ing = await startRangeIngress(5, {
    tls: { cert: proxyCert.cert, key: proxyCert.key },
    reverse: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert: t.cert, key: t.key } },
    // base+1 us-1, base+2 de-1, base+3 gb-1 (IPv4 only), base+4 nl-1 (reverse)
    exits: [entry('us-1', exits[0]!, 'us', '::1'), entry('de-1', exits[1]!, 'de', '::1'), entry('gb-1', exits[2]!, 'gb'), await reverseEntry('nl-1', '127.0.0.7', 'nl', { egressIp6: '::1' })],
  });
  rev = startReverseExit(ing.ingress, 'nl-1', '127.0.0.7', { egress6: '::1', policy: new TargetPolicy({ allow: LOOPBACK, deny: [], ports: [] }) });
  await rev.ready;
  await eventually('the reverse exit pool', () => rev.idle >= 2);
});

after(async () => {
  await rev.stop(100);
  await ing.stop();
  for (const e of exits) await e.node.shutdown(100);
  web4.close();
  web6.close();
});

const pw = encodeURIComponent(USER.password);
const EGRESS4 = new Set(['127.0.0.2', '127.0.0.4', '127.0.0.6', '127.0.0.7']);

const MODES = [
  { mode: 'http', proxy: () => `http://${USER.login}:${pw}@127.0.0.1:${ing.base}`, v6: true },
  { mode: 'https proxy', proxy: () => `https://${USER.login}:${pw}@127.0.0.1:${ing.base}`, v6: true, extra: () => ['--proxy-cacert', proxyCert.cert] },
  { mode: 'socks4a', proxy: () => `socks4a://${USER.login}%3A${pw}@127.0.0.1:${ing.base}`, v6: false },
  { mode: 'socks5', proxy: () => `socks5://${USER.login}:${pw}@127.0.0.1:${ing.base}`, v6: true },
  { mode: 'socks5h', proxy: () => `socks5h://${USER.login}:${pw}@127.0.0.1:${ing.base}`, v6: true },
];

for (const m of MODES) {
  test(`curl ${m.mode} on the random port: IPv4 targets${m.v6 ? ' and IPv6 targets' : ''} every time, each from its family's egress`, async () => {
    for (let i = 0; i < REPEAT; i++) {
      const r4 = await curl([...(m.extra?.() ?? []), '-x', m.proxy(), `http://127.0.0.1:${port4}/`]);
      assert.equal(r4.code, 0, `IPv4 #${i}: ${r4.stderr}`);
      assert.ok(EGRESS4.has(r4.stdout), `IPv4 #${i} left from ${r4.stdout}`);
      if (!m.v6) continue;
      const r6 = await curl([...(m.extra?.() ?? []), '-x', m.proxy(), `http://[::1]:${port6}/`]);
      assert.equal(r6.code, 0, `IPv6 #${i}: ${r6.stderr}`);
      assert.equal(r6.stdout, '::1', `IPv6 #${i} left from ${r6.stdout}`);
    }
  });
}

test('socks client CONNECT on the random port: IPv4 and IPv6 targets, every time', async () => {
  for (let i = 0; i < REPEAT * 2; i++) {
    for (const [host, port] of [['127.0.0.1', port4], ['::1', port6]] as const) {
      const { socket } = await SocksClient.createConnection({
        proxy: { host: '127.0.0.1', port: ing.base, type: 5, userId: USER.login, password: USER.password },
        command: 'connect',
        destination: { host, port },
        timeout: 5000,
      });
      socket.write(`GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      await withTimeout(once(socket, 'end'), 5000, 'response');
      const seen = Buffer.concat(chunks).toString().split('\r\n\r\n')[1];
      assert.ok(host === '::1' ? seen === '::1' : EGRESS4.has(seen!), `${host} #${i} left from ${seen}`);
      socket.destroy();
    }
  }
});

/**
 * `count` associations on `port`, each echoing a datagram to every target. The exit is chosen per
 * association, before any datagram names a target: datagrams of a family the exit has no egress
 * for are dropped there (SOCKS5 UDP has no error channel), so IPv6 datagrams go to dual-stack ports.
 */
async function associations(port: number, count: number, families: ReadonlyArray<4 | 6>): Promise<void> {
  const echo4 = await startUdpEcho('127.0.0.1');
  const echo6 = await startUdpEcho('::1');
  const udp = createSocket('udp4');
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  const targets = ([['127.0.0.1', echo4.port, 4], ['::1', echo6.port, 6]] as const).filter(([, , f]) => families.includes(f));
  try {
    for (let i = 0; i < count; i++) {
      const info = await socksAssociate(port, USER.login, USER.password);
      try {
        const relay = { host: info.remoteHost!.host === '0.0.0.0' ? '127.0.0.1' : info.remoteHost!.host, port: info.remoteHost!.port };
        for (const [host, port] of targets) {
          const payload = `udp-${i}-${host}`;
          udp.send(SocksClient.createUDPFrame({ remoteHost: { host, port }, data: Buffer.from(payload) }), relay.port, relay.host);
          const [msg] = (await withTimeout(once(udp, 'message'), 3000, `echo of ${payload}`)) as [Buffer];
          assert.equal(SocksClient.parseUDPFrame(msg).data.toString(), payload);
        }
      } finally {
        info.socket.destroy();
      }
    }
  } finally {
    udp.close();
    echo4.close();
    echo6.close();
  }
}

test('30 UDP associations on the random port all succeed: the random choice never falls on the reverse exit', async () => {
  await associations(ing.base, 30, [4]);
});

test('UDP through dual-stack exits carries IPv4 and IPv6 datagrams, each from its family', async () => {
  await associations(ing.base + 1, 3, [4, 6]);
  await associations(ing.base + 2, 3, [4, 6]);
});

test('a pinned reverse exit refuses UDP ASSOCIATE with REP 7 (command not supported)', async () => {
  await assert.rejects(socksAssociate(ing.base + 4, USER.login, USER.password), /rejected connection - (CommandNotSupported|Command not supported)/i);
});

test('an IPv6 target on a pinned IPv4-only exit: SOCKS5 REP 8, HTTP 502 FAMILY_UNSUPPORTED naming why', async () => {
  await assert.rejects(
    SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: ing.base + 3, type: 5, userId: USER.login, password: USER.password }, command: 'connect', destination: { host: '::1', port: port6 }, timeout: 5000 }),
    /rejected connection - AddressNotSupported/,
  );
  const h = await curl(['-i', '-x', `http://${USER.login}:${pw}@127.0.0.1:${ing.base + 3}`, `http://[::1]:${port6}/`]);
  assert.match(h.stdout, /^HTTP\/1\.1 502 /);
  assert.match(h.stdout, /X-Hopgate-Error: FAMILY_UNSUPPORTED/i);
  assert.match(h.stdout, /exit gb-1 has no IPv6 egress/);
  // its IPv4 side still serves
  const ok = await curl(['-x', `http://${USER.login}:${pw}@127.0.0.1:${ing.base + 3}`, `http://127.0.0.1:${port4}/`]);
  assert.equal(ok.stdout, '127.0.0.6');
});

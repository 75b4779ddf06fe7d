/**
 * UDP ASSOCIATE with two ingress worker processes: each association's relay
 * socket is its own. Without exclusive binding, node:cluster hands two workers'
 * port-0 binds the same shared handle: two customers got the same relay port,
 * and each other's datagrams (issue 18 finding 11). Here two customers open
 * associations at once, several rounds, and every association must get back
 * exactly the replies to what it sent: none of anyone else's, none lost.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SocksClient } from 'socks';
import { stringify } from 'yaml';
import { startUdpEcho } from '../helpers/net.js';
import { socksAssociate, type SocksEstablished } from '../helpers/socks-client.js';
import { hashPassword } from '../../src/shared/auth/password-hash.js';
import { startIngressProcesses, type RunningIngress } from '../../src/processes/ingress-workers.js';
import { createLogger } from '../../src/shared/log.js';
import { eventually } from '../helpers/eventually.js';

const ROUNDS = 4;
const PER_CUSTOMER = 4; // associations per customer per round, opened at once
const DATAGRAMS = 10; // per association
const CUSTOMERS = [
  { login: 'alice', password: 'alice-udp-pw' },
  { login: 'bob', password: 'bob-udp-pw' },
];

let dir: string;
let echo: Awaited<ReturnType<typeof startUdpEcho>>;
let ing: RunningIngress;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hopgate-udpw-'));
  echo = await startUdpEcho();
  const users = await Promise.all(CUSTOMERS.map(async (c) => ({ login: c.login, passwordHash: await hashPassword(c.password, { ln: 10, r: 8, p: 1 }) })));
  const file = join(dir, 'ingress.yaml');
  writeFileSync(file, stringify({ listen: { host: '127.0.0.1', ports: [0, 0] }, targetPolicy: { allow: ['127.0.0.0/8'] }, log: { level: 'silent', access: false }, users }));
  ing = await startIngressProcesses(file, { workers: 2, log: createLogger('silent') });
});
after(async () => {
  await ing?.stop();
  echo?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Assoc {
  readonly tag: string;
  readonly ctl: SocksEstablished;
  readonly udp: UdpSocket;
  readonly got: string[];
}

async function open(c: (typeof CUSTOMERS)[number], tag: string): Promise<Assoc> {
  const ctl = await socksAssociate(ing.ports[0], c.login, c.password);
  const udp = createSocket('udp4');
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  const got: string[] = [];
  udp.on('message', (m: Buffer) => got.push(SocksClient.parseUDPFrame(m).data.toString()));
  return { tag, ctl, udp, got };
}

test('two workers: concurrent associations of two customers each get exactly their own replies', { timeout: 60_000 }, async () => {
  for (let round = 0; round < ROUNDS; round++) {
    const assocs = await Promise.all(CUSTOMERS.flatMap((c) => Array.from({ length: PER_CUSTOMER }, (_, k) => open(c, `${c.login}-${round}-${k}`))));
    try {
      // Open at the same time, every association has its own relay port.
      assert.equal(new Set(assocs.map((a) => a.ctl.remoteHost!.port)).size, assocs.length, `round ${round}: a relay port given twice`);
      for (let i = 0; i < DATAGRAMS; i++) {
        for (const a of assocs) {
          const frame = SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: echo.port }, data: Buffer.from(`${a.tag}-${i}`) });
          a.udp.send(frame, a.ctl.remoteHost!.port, a.ctl.remoteHost!.host);
        }
      }
      const own = (a: Assoc): number => a.got.filter((g) => g.startsWith(`${a.tag}-`)).length;
      await eventually('every reply back', () => assocs.every((a) => own(a) >= DATAGRAMS), { timeoutMs: 3000, everyMs: 20 }).catch(() => undefined); // the asserts below say which
      // Stragglers that do not belong would have arrived by now: each association's own last marker came back
      // after them (a later event on the same path), instead of a silence window.
      for (const a of assocs) a.udp.send(SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: echo.port }, data: Buffer.from(`marker-${a.tag}`) }), a.ctl.remoteHost!.port, a.ctl.remoteHost!.host);
      await eventually('every marker back', () => assocs.every((a) => a.got.includes(`marker-${a.tag}`)), { timeoutMs: 3000, everyMs: 20 });
      for (const a of assocs) a.got.splice(a.got.indexOf(`marker-${a.tag}`), 1);
      for (const a of assocs) {
        const foreign = a.got.filter((g) => !g.startsWith(`${a.tag}-`));
        assert.deepEqual(foreign, [], `${a.tag} received other associations' replies`);
        assert.deepEqual([...a.got].sort(), Array.from({ length: DATAGRAMS }, (_, i) => `${a.tag}-${i}`).sort(), `${a.tag}: lost replies`);
      }
    } finally {
      for (const a of assocs) {
        a.ctl.socket.destroy();
        a.udp.close();
      }
    }
  }
});

/**
 * A drained link ends within a bound: its UDP associations end limits.drainTimeoutMs after
 * the drain began (an association has no end of its own: its client may send for ever),
 * while its TCP tunnels finish as they do; then the link closes. Real SOCKS5 clients (the
 * npm `socks` client, UDP ASSOCIATE and CONNECT) → ingress → link → a real hopgate exit.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { SocksClient } from 'socks';
import { aliceHashed, startTestIngress, USER } from '../helpers/ingress.js';
import { eventually } from '../helpers/eventually.js';
import { closed, startEchoServer, withTimeout } from '../helpers/net.js';
import { socksUdpCustomer } from '../helpers/socks-client.js';
import { ingressIdentityDir, linkExitEntry, startLinkExit } from '../helpers/link-exits.js';
import { udpEchoTarget } from '../helpers/udp-echo.js';
import { IngressConfigSchema, type IngressConfigInput } from '../../src/shared/schema/ingress-config.js';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** The ingress of both cases: one link per exit, drained links' UDP ended after `drainTimeoutMs`. */
async function ingressBase(identityDir: string, drainTimeoutMs: number): Promise<Partial<IngressConfigInput>> {
  return {
    listen: { host: '127.0.0.1', ports: [0, 0] },
    targetPolicy: { allow: ['127.0.0.0/8'] },
    log: { level: 'silent', access: false },
    users: [{ login: USER.login, passwordHash: await aliceHashed() }],
    links: { identityDir, perExit: 1 },
    limits: { exitProbeIntervalMs: 0, drainTimeoutMs },
  };
}

test('a reload drains the link: its UDP association ends after the drain timeout, its TCP tunnel finishes, then the link closes', { timeout: 30_000 }, async () => {
  const id = ingressIdentityDir();
  const exit = await startLinkExit('us-1', '127.0.0.2', [id.identity.fingerprint]);
  cleanups.push(() => exit.stop());
  const entry = linkExitEntry(exit, 'us');
  const base = await ingressBase(id.dir, 500);
  const ingress = await startTestIngress({ ...base, exits: [entry] });
  cleanups.push(() => ingress.stop());
  const echo = await startEchoServer();
  cleanups.push(() => echo.close());
  const target = await udpEchoTarget('127.0.0.1');
  cleanups.push(() => target.close());

  // A UDP association and a TCP tunnel, both on the exit's one link.
  const c = await socksUdpCustomer(ingress.port, USER.login, USER.password, (end) => cleanups.push(end));
  const assocClosed = closed(c.assoc.socket);
  const send = (text: string): void => c.send('127.0.0.1', target.port, text);
  send('before');
  await eventually('the UDP echo over the link', () => c.replies.includes(`127.0.0.1:${target.port} echo:before`));
  const { socket: tcp } = await SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port: ingress.port, type: 5, userId: USER.login, password: USER.password },
    command: 'connect',
    destination: { host: '127.0.0.1', port: echo.port },
    timeout: 10_000,
  });
  cleanups.push(() => tcp.destroy());
  assert.equal(exit.links.linkCount, 1);
  assert.equal(exit.links.streamCount, 2);

  // The exit's link taken out of the configuration: the ingress drains the link (GOAWAY).
  const drainedAt = Date.now();
  ingress.ingress.reload(IngressConfigSchema.parse({ ...base, exits: [{ ...entry, link: undefined }] }));
  // The client keeps its association busy; it ends all the same, within the bound (plus scheduling).
  const keepSending = setInterval(() => send('during'), 50);
  cleanups.push(() => clearInterval(keepSending));
  await withTimeout(assocClosed, 5000, 'the association ended after the drain timeout');
  clearInterval(keepSending);
  assert.ok(Date.now() - drainedAt >= 450, `ended ${Date.now() - drainedAt} ms after the drain, not before the bound`);
  await eventually('only the TCP stream left on the drained link', () => exit.links.streamCount === 1);
  assert.equal(exit.links.linkCount, 1);

  // The TCP tunnel still carries bytes both ways; once it ends, the link closes.
  const got = once(tcp, 'data');
  tcp.write('still here');
  assert.equal(String((await withTimeout(got, 5000, 'tcp echo'))[0]), 'still here');
  tcp.end();
  await eventually('the drained link closed', () => exit.links.linkCount === 0);
});

test("the exit's own drainTimeoutMs bounds a drained link's UDP too: the smaller of the two sides ends it", { timeout: 30_000 }, async () => {
  const id = ingressIdentityDir();
  // The exit's bound is short, the ingress's long: the exit ends the association at its own.
  const exit = await startLinkExit('us-2', '127.0.0.3', [id.identity.fingerprint], { drainTimeoutMs: 300 });
  cleanups.push(() => exit.stop());
  const entry = linkExitEntry(exit, 'us');
  const base = await ingressBase(id.dir, 60_000);
  const ingress = await startTestIngress({ ...base, exits: [entry] });
  cleanups.push(() => ingress.stop());
  const target = await udpEchoTarget('127.0.0.1');
  cleanups.push(() => target.close());
  const c = await socksUdpCustomer(ingress.port, USER.login, USER.password, (end) => cleanups.push(end));
  c.send('127.0.0.1', target.port, 'before');
  await eventually('the UDP echo over the link', () => c.replies.includes(`127.0.0.1:${target.port} echo:before`));
  assert.equal(exit.links.streamCount, 1);

  const drainedAt = Date.now();
  ingress.ingress.reload(IngressConfigSchema.parse({ ...base, exits: [{ ...entry, link: undefined }] }));
  // Without the exit's bound this waits for its default 10 s (or the ingress's 60 s).
  await eventually("the exit ended the drained link's UDP stream at its own bound", () => exit.links.streamCount === 0, { timeoutMs: 5000 });
  assert.ok(Date.now() - drainedAt >= 250, `ended ${Date.now() - drainedAt} ms after the drain, not before the exit's bound`);
  await eventually('the drained link closed', () => exit.links.linkCount === 0);
});

/** Other real clients: undici's ProxyAgent, and the socks client's UDP ASSOCIATE. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { ProxyAgent, request } from 'undici';
import { SocksClient } from 'socks';

import { listen0, startUdpEcho, withTimeout } from '../helpers/net.js';
import { startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { socksAssociate } from '../helpers/socks-client.js';
import { eventually } from '../helpers/eventually.js';

let ing: TestIngress;
let web: Server;
let webPort: number;
before(async () => {
  web = createServer((req, res) => res.end(`hi ${req.method} ${req.url}`));
  webPort = await listen0(web);
  ing = await startTestIngress();
});
after(async () => {
  await ing.stop();
  web.closeAllConnections();
  web.close();
});

test('undici ProxyAgent (HTTP CONNECT with Basic auth) fetches through the ingress', async () => {
  const token = `Basic ${Buffer.from(`${USER.login}:${USER.password}`).toString('base64')}`;
  const agent = new ProxyAgent({ uri: `http://127.0.0.1:${ing.port}`, token });
  try {
    for (let i = 0; i < 3; i++) {
      const res = await request(`http://127.0.0.1:${webPort}/u${i}`, { dispatcher: agent });
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), `hi GET /u${i}`);
    }
  } finally {
    await agent.close();
  }
});

test('undici ProxyAgent with wrong credentials surfaces the 407', async () => {
  const agent = new ProxyAgent({ uri: `http://127.0.0.1:${ing.port}`, token: `Basic ${Buffer.from('alice:bad').toString('base64')}` });
  try {
    await assert.rejects(request(`http://127.0.0.1:${webPort}/`, { dispatcher: agent }), /407|Proxy/);
  } finally {
    await agent.close();
  }
});

const associate = () => socksAssociate(ing.port, USER.login, USER.password);

test('socks client UDP ASSOCIATE relays datagrams to a UDP echo and back', async () => {
  const echo = await startUdpEcho();
  const udp = createSocket('udp4');
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  const info = await associate();
  try {
    const relayHost = info.remoteHost!.host === '0.0.0.0' ? '127.0.0.1' : info.remoteHost!.host;
    const relayPort = info.remoteHost!.port;
    const packet = SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: echo.port }, data: Buffer.from('udp ping') });
    udp.send(packet, relayPort, relayHost);
    const [msg] = (await withTimeout(once(udp, 'message'), 3000, 'udp reply')) as [Buffer];
    const frame = SocksClient.parseUDPFrame(msg);
    assert.equal(frame.data.toString(), 'udp ping');
    assert.equal(frame.remoteHost.port, echo.port);
    // The association ends with its TCP control connection.
    info.socket.destroy();
    await eventually('the association ended at the ingress', () => ing.ingress.runtime.sessions.size === 0);
    // Proof that nothing can answer, instead of a silence window: the relay port is closed (a connected UDP
    // socket hears the ICMP port unreachable as ECONNREFUSED).
    const probe = createSocket('udp4');
    try {
      probe.connect(relayPort, relayHost);
      await once(probe, 'connect');
      const refused = withTimeout(new Promise<string>((r) => probe.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? e.message))), 3000, 'ICMP port unreachable');
      probe.send(packet);
      assert.equal(await refused, 'ECONNREFUSED');
    } finally {
      probe.close();
    }
  } finally {
    info.socket.destroy();
    udp.close();
    echo.close();
  }
});

test('UDP datagrams from another source address are not relayed', async () => {
  const echo = await startUdpEcho();
  const info = await associate();
  const stranger = createSocket('udp4');
  stranger.bind(0, '127.0.0.9');
  await once(stranger, 'listening');
  try {
    const packet = SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: echo.port }, data: Buffer.from('x') });
    stranger.send(packet, info.remoteHost!.port, '127.0.0.1');
    const r = await Promise.race([once(stranger, 'message').then(() => 'reply'), new Promise((res) => setTimeout(() => res('silence'), 400))]);
    assert.equal(r, 'silence');
  } finally {
    info.socket.destroy();
    stranger.close();
    echo.close();
  }
});

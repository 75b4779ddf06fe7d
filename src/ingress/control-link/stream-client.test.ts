import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ControlStreamClient } from './stream-client.js';

/**
 * The hello's heartbeat sets the ingress's watchdog (silence for 3 heartbeats is a dead stream). A number
 * the watchdog cannot hold (3× past 2^31-1 ms, which Node fires at once; not a number at all, which it
 * fires at once too) must not make a healthy stream look dead: kept at the ingress's own default instead.
 */
for (const heartbeatMs of [1e9, 'soon' as unknown as number]) {
  test(`a hello's heartbeat the watchdog cannot hold (${String(heartbeatMs)}) does not tear down a live stream`, async () => {
    const held: ServerResponse[] = [];
    let requests = 0;
    const server = createServer((_req, res) => {
      requests++;
      held.push(res);
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ type: 'hello', node: 'n1', revision: 1, pullToken: 't', heartbeatMs, replica: 'r1' })}\n`);
      res.write(`${JSON.stringify({ type: 'ping' })}\n`); // re-arms the watchdog with the hello's heartbeat
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = new ControlStreamClient({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      token: 'x',
      revision: () => 1,
      minBackoffMs: 20,
      maxBackoffMs: 40,
      onConfig: () => true,
      onDisconnect: (err) => (dropped ??= err),
    });
    let dropped: Error | undefined;
    try {
      client.start();
      // Nothing to wait for but time: a stream that is kept does nothing. A watchdog fired at once drops it within milliseconds.
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(dropped, undefined, `the stream was dropped: ${dropped?.message}`);
      assert.equal(requests, 1, 'one stream, kept');
      assert.equal(client.connected, true);
    } finally {
      client.stop();
      for (const res of held) res.destroy();
      server.close();
    }
  });
}

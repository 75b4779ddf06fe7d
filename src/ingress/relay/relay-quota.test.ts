/**
 * The relay's byte counters are what the customer is billed for (the stats
 * meter reads them): a chunk the relay does not forward must not be counted.
 * The quota cuts a session on the chunk that crosses it, and that chunk is
 * dropped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { relay, type RelayHandle } from './relay.js';
import { QuotaUsage } from '../guard/quota.js';
import type { RelayCounters } from './counters.js';
// A unit test may use the test toolkit: .dependency-cruiser.cjs exempts *.test.ts from the layer rules.
import { eventually } from '../../../test/helpers/eventually.js';
import { listen0 } from '../../../test/helpers/ports.js';
import { closed, withTimeout } from '../../../test/helpers/net.js';

/** Two connected loopback sockets: [the one a peer holds, the one the relay holds]. */
async function socketPair(): Promise<{ peer: Socket; ours: Socket; close(): void }> {
  const server = createServer();
  const port = await listen0(server);
  const accepted = once(server, 'connection');
  const peer = connect({ port, host: '127.0.0.1' });
  await once(peer, 'connect');
  const [ours] = (await accepted) as [Socket];
  server.close();
  return { peer, ours, close: () => (peer.destroy(), ours.destroy()) };
}

for (const direction of ['down', 'up'] as const) {
  test(`quota cut (${direction}): the crossing chunk is neither forwarded nor counted`, async () => {
    const client = await socketPair();
    const upstream = await socketPair();
    // The side that sends, and the side that receives (or not).
    const [sender, receiver] = direction === 'down' ? [upstream.peer, client.peer] : [client.peer, upstream.peer];
    let handle: RelayHandle | undefined;
    const usage = new QuotaUsage('alice', 1000, 'day', () => handle?.abort());
    const counters: RelayCounters = { up: 0, down: 0 };
    handle = relay(client.ours, upstream.ours, counters, 10_000, () => undefined, { up: undefined, down: undefined, usage });
    let got = 0;
    receiver.on('data', (c: Buffer) => (got += c.length));
    receiver.on('error', () => undefined);
    sender.on('error', () => undefined);

    sender.write(Buffer.alloc(600, 0x61));
    await eventually('the first chunk forwarded', () => got >= 600, { timeoutMs: 3000, everyMs: 5 });
    assert.equal(got, 600, 'under the quota: forwarded');
    assert.equal(counters[direction], 600);

    sender.write(Buffer.alloc(600, 0x62)); // 1200 ≥ 1000: this chunk crosses and cuts
    await withTimeout(closed(receiver), 3000, 'the quota cutting the connection'); // a timer of its own kept the unit share's process alive 3 s
    assert.equal(usage.over, true);
    assert.equal(got, 600, 'the crossing chunk is not forwarded');
    assert.equal(counters[direction], got, 'counted (billed) exactly what was forwarded');
    client.close();
    upstream.close();
  });
}

/**
 * A reverse exit takes the heartbeat interval from the ingress that accepted it. A value outside
 * the range an ingress can be configured with (50 ms … 10 min) must not turn into a reconnect
 * storm: 2.5 × a huge value overflows Node's timer (it then fires after 1 ms), and 1 ms makes the
 * exit give up on a healthy connection at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { acceptedPacket, heartbeatPacket } from '../../src/protocol/work-packet/messages.js';
import { parsePacket } from '../../src/protocol/work-packet/codec.js';
import { ReverseExitClient } from '../../src/exit/reverse-client.js';
import { TargetPolicy } from '../../src/shared/net/target-policy.js';
import { tunnelCert, TOKEN } from '../helpers/reverse.js';
import { eventually, sleep } from '../helpers/eventually.js';

/** A fake ingress: accepts every registration with `heartbeatMs`, then heartbeats like a real one every 40 ms. */
async function fakeIngress(heartbeatMs: number): Promise<{ port: number; accepted: () => number; close: () => Promise<void> }> {
  const cert = tunnelCert();
  let accepted = 0;
  const sockets = new Set<TLSSocket>();
  const server = createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const p = parsePacket(buf);
      if (p.kind !== 'ok' || !p.value.props.has('token')) return;
      buf = buf.subarray(p.consumed);
      accepted++;
      s.write(acceptedPacket(heartbeatMs));
      const beat = setInterval(() => s.write(heartbeatPacket(1, false)), 40);
      s.on('close', () => clearInterval(beat));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

for (const [label, hb] of [['an overflowing', 1e10], ['a one-millisecond', 1]] as const) {
  test(`${label} heartbeat interval from the ingress is clamped: the exit keeps its one work connection`, async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    const ing = await fakeIngress(hb);
    const client = new ReverseExitClient({ host: '127.0.0.1', port: ing.port, id: 'x', token: TOKEN, ca: tunnelCert().pem, servername: 'localhost', pool: 1, mode: 'work', policy: new TargetPolicy({ allow: ['127.0.0.0/8'], deny: [], ports: [] }), backoffMs: 1, maxBackoffMs: 1 }).start();
    try {
      await client.ready;
      await eventually('one idle work connection', () => client.idle === 1);
      // A storm replaces the connection within milliseconds; a clamped interval (≥ 50 ms, timeout 2.5×) keeps it well past 100 ms.
      await sleep(100);
      assert.equal(ing.accepted(), 1, 'the exit re-registered: it dropped a healthy connection');
      assert.deepEqual(warnings.filter((w) => w === 'TimeoutOverflowWarning'), []);
    } finally {
      process.off('warning', onWarning);
      await client.stop(0);
      await ing.close();
    }
  });
}

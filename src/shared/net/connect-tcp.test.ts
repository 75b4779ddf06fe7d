import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { connectTcp } from './connect-tcp.js';

test('connectTcp from a bound source address picks its own ephemeral ports, and every connection succeeds', async () => {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number, number];
  const ports = new Set<number>();
  try {
    for (let i = 0; i < 300; i++) {
      const s = await connectTcp('127.0.0.1', port, 2000, { localAddress: '127.0.0.11' });
      assert.equal(s.localAddress, '127.0.0.11');
      assert.ok(s.localPort! >= lo && s.localPort! <= hi, `port ${s.localPort} outside ${lo}-${hi}`);
      ports.add(s.localPort!);
      s.destroy(); // we close first: these leave TIME_WAIT behind on 127.0.0.11, the case that used to stall
    }
  } finally {
    server.close();
  }
  assert.ok(ports.size > 250, `only ${ports.size} distinct source ports`);
});

test('connectTcp from an address this host does not have fails with a clear error, not a hang', async () => {
  await assert.rejects(connectTcp('127.0.0.1', 9, 2000, { localAddress: '192.0.2.1' }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'NET_UNREACHABLE');
    assert.match(err.message, /EADDRNOTAVAIL/);
    return true;
  });
});

test('connectTcp with a port range binds only ports inside it, retrying a taken one', async () => {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  // 46003 is held by a listener: binding it fails and is retried (6 attempts; all six on it: 8^-6).
  const held = createServer();
  await new Promise<void>((r) => held.listen(46_003, '127.0.0.12', r));
  const used = new Set<number>();
  try {
    for (let i = 0; i < 20; i++) {
      const s = await connectTcp('127.0.0.1', port, 2000, { localAddress: '127.0.0.12', localPorts: [46_000, 46_007] });
      used.add(s.localPort!);
      s.destroy();
    }
  } finally {
    held.close();
    server.close();
  }
  for (const p of used) assert.ok(p >= 46_000 && p <= 46_007 && p !== 46_003, `port ${p}`);
  assert.ok(used.size >= 3, `only ${[...used].join(',')} used`);
});

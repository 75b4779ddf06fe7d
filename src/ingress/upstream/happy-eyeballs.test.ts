import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { dialDirect } from './dial-direct.js';
import { connectFirst, connectTcp } from '../../shared/net/connect-tcp.js';
import { egressFamilies, interleaveFamilies, raceAttempts, sourceFor } from '../../shared/net/happy-eyeballs.js';
import { TargetPolicy } from '../../shared/net/target-policy.js';
import { targetKind } from '../../protocol/address.js';

const LOOPBACK = new TargetPolicy({ allow: ['127.0.0.0/8', '::1/128'], deny: [], ports: [] });

async function listen(host: string): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, port: (server.address() as AddressInfo).port };
}

const target = (host: string, port: number) => ({ host, port, kind: targetKind(host) });

test('sourceFor / egressFamilies: each family leaves from its own address; one address alone serves its family only', () => {
  assert.deepEqual(egressFamilies({}), [4, 6]);
  assert.deepEqual(egressFamilies({ localAddress: '127.0.0.2' }), [4]);
  assert.deepEqual(egressFamilies({ localAddress: '::1' }), [6]);
  assert.deepEqual(egressFamilies({ localAddress: '127.0.0.2', localAddress6: '::1' }), [4, 6]);
  assert.equal(sourceFor(6, { localAddress: '127.0.0.2', localAddress6: '::1' }), '::1');
  assert.equal(sourceFor(4, { localAddress: '127.0.0.2', localAddress6: '::1' }), '127.0.0.2');
  assert.equal(sourceFor(6, { localAddress: '127.0.0.2' }), null);
  assert.equal(sourceFor(4, {}), undefined);
  assert.deepEqual(interleaveFamilies(['::1', '::2', '127.0.0.1', '127.0.0.2', '127.0.0.3']), ['::1', '127.0.0.1', '::2', '127.0.0.2', '127.0.0.3']);
});

test('a dual-stack node connects to an IPv6 target from its IPv6 address and to an IPv4 one from its IPv4 address (was EINVAL)', async () => {
  const v6 = await listen('::1');
  const v4 = await listen('127.0.0.1');
  const egress = { localAddress: '127.0.0.2', localAddress6: '::1' };
  try {
    const a = await dialDirect(target('::1', v6.port), { policy: LOOPBACK, timeoutMs: 2000, ...egress });
    assert.equal(a.localAddress, '::1');
    a.destroy();
    const b = await dialDirect(target('127.0.0.1', v4.port), { policy: LOOPBACK, timeoutMs: 2000, ...egress });
    assert.equal(b.localAddress, '127.0.0.2');
    b.destroy();
  } finally {
    v6.server.close();
    v4.server.close();
  }
});

test('an IPv4-only node refuses an IPv6 target with FAMILY_UNSUPPORTED, naming why', async () => {
  await assert.rejects(dialDirect(target('::1', 9), { policy: LOOPBACK, timeoutMs: 2000, localAddress: '127.0.0.2' }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'FAMILY_UNSUPPORTED');
    assert.match(err.message, /::1 is IPv6 only, and this node egresses IPv4 only/);
    return true;
  });
});

test('a name resolving to both families: an address that fails fast falls over to the other family at once', { timeout: 10_000 }, async () => {
  const v4 = await listen('127.0.0.1');
  const dead = await listen('::1');
  const deadPort = dead.port;
  dead.server.close(); // nothing listens there now: ECONNREFUSED
  try {
    const s = await connectFirst(['::1', '127.0.0.1'], { host: 'both.test', port: v4.port, kind: 'domain' }, 2000, {});
    assert.equal(s.remoteAddress, '127.0.0.1');
    s.destroy();
    // "At once", without a wall-clock bound a loaded machine can miss: the stagger here is longer than this
    // test's own timeout, so only the refusal itself can have started the IPv4 attempt.
    const t = await raceAttempts(['::1', '127.0.0.1'], 5000, (host, left, signal) => connectTcp(host, v4.port, left, { signal }), 60_000);
    assert.equal(t.remoteAddress, '127.0.0.1', 'the refusal starts the next attempt without waiting for the stagger');
    t.destroy();
    // the same for a port nothing listens on, in either family: the last failure is the answer
    await assert.rejects(connectFirst(['::1', '127.0.0.1'], { host: 'both.test', port: deadPort, kind: 'domain' }, 2000, {}), { code: 'CONN_REFUSED' });
  } finally {
    v4.server.close();
  }
});

test('a first address that hangs: the next family starts after the stagger, wins, and the hanging attempt is abandoned', async () => {
  const v4 = await listen('127.0.0.1');
  let abandoned = false;
  const connected: Socket[] = [];
  try {
    const t0 = Date.now();
    const s = await raceAttempts(['::1', '127.0.0.1'], 2000, (host, _left, signal) => {
      if (host === '::1') {
        // stands for a blackholed address: no answer until abandoned
        return new Promise<Socket>((_, reject) => signal.addEventListener('abort', () => ((abandoned = true), reject(new Error('abandoned')))));
      }
      return connectFirst([host], target(host, v4.port), 2000, {}).then((x) => (connected.push(x), x));
    }, 100);
    const ms = Date.now() - t0;
    assert.equal(s.remoteAddress, '127.0.0.1');
    assert.ok(ms >= 95 && ms < 1000, `took ${ms} ms`);
    assert.ok(abandoned, 'the losing attempt was cancelled');
    s.destroy();
  } finally {
    v4.server.close();
  }
});

/**
 * DirectWayOut (shared/net/udp-direct.ts): datagrams awaiting their target's
 * resolution are bounded per association — a customer flooding names whose
 * resolver stalls must not hold unbounded lookups and buffers (at an exit, too).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { TargetPolicy } from '../../src/shared/net/target-policy.js';
import { MAX_AWAITING_RESOLUTION, openDirectWayOut } from '../../src/shared/net/udp-direct.js';
import { eventually } from '../helpers/eventually.js';

test('datagrams awaiting resolution are bounded: past MAX_AWAITING_RESOLUTION they are refused, the rest delivered', async () => {
  const target = createSocket('udp4');
  target.bind(0, '127.0.0.1');
  await once(target, 'listening');
  let seen = 0;
  target.on('message', () => seen++);
  const reasons: string[] = [];
  const way = await openDirectWayOut({ localAddress: '127.0.0.1' }, new TargetPolicy({ allow: ['127.0.0.0/8'], deny: [], ports: [] }), {
    onRefused: (_t, reason) => reasons.push(reason),
  });
  try {
    const port = target.address().port;
    const n = MAX_AWAITING_RESOLUTION + 10;
    // All sent before any resolution completes (each waits at least a microtask).
    for (let i = 0; i < n; i++) way.send({ host: '127.0.0.1', port, kind: 'ipv4' }, Buffer.from(`d${i}`));
    assert.equal(reasons.length, 10);
    assert.match(reasons[0]!, /awaiting resolution/);
    await eventually('the admitted datagrams delivered', () => seen === MAX_AWAITING_RESOLUTION);
    // Resolved meanwhile: the name is known, nothing waits, nothing more is refused.
    way.send({ host: '127.0.0.1', port, kind: 'ipv4' }, Buffer.from('late'));
    await eventually('the late one delivered', () => seen === MAX_AWAITING_RESOLUTION + 1);
    assert.equal(reasons.length, 10);
  } finally {
    way.close();
    target.close();
  }
});

test('every datagram is judged by the port policy, also once its host is resolved: a later one to another port is refused, port 0 too (it threw out of send())', async () => {
  const target = createSocket('udp4');
  target.bind(0, '127.0.0.1');
  await once(target, 'listening');
  const port = target.address().port;
  let seen = 0;
  target.on('message', () => seen++);
  const reasons: string[] = [];
  const way = await openDirectWayOut({ localAddress: '127.0.0.1' }, new TargetPolicy({ allow: ['127.0.0.0/8'], deny: [], ports: [port] }), {
    onRefused: (_t, reason) => reasons.push(reason),
  });
  try {
    way.send({ host: '127.0.0.1', port, kind: 'ipv4' }, Buffer.from('first'));
    await eventually('the allowed one delivered (the host is now resolved)', () => seen === 1);
    way.send({ host: '127.0.0.1', port: port === 65535 ? port - 1 : port + 1, kind: 'ipv4' }, Buffer.from('other port'));
    way.send({ host: '127.0.0.1', port: 0, kind: 'ipv4' }, Buffer.from('port 0'));
    assert.equal(reasons.length, 2, reasons.join('; '));
    assert.match(reasons[0]!, /not allowed/);
    assert.match(reasons[1]!, /port 0/);
  } finally {
    way.close();
    target.close();
  }
});

test('refuses(): a literal address of a family this way out has no socket for is refused up front (so it is not billed), as are a forbidden port and address; an allowed one and a name are not', async () => {
  const policy = new TargetPolicy({ allow: ['127.0.0.0/8', '::1/128'], deny: [], ports: [] });
  const v4only = await openDirectWayOut({ localAddress: '127.0.0.1' }, policy);
  try {
    assert.equal(v4only.refuses({ host: '::1', port: 9, kind: 'ipv6' }), true, 'IPv6 literal, IPv4 egress only: send() would drop it');
    assert.equal(v4only.refuses({ host: '127.0.0.1', port: 9, kind: 'ipv4' }), false);
    assert.equal(v4only.refuses({ host: '10.1.2.3', port: 9, kind: 'ipv4' }), true, 'outside the allowed networks');
    assert.equal(v4only.refuses({ host: 'localhost', port: 9, kind: 'domain' }), false, 'a name is judged once resolved');
  } finally {
    v4only.close();
  }
});

/**
 * The exit's UDP payload limit (LIMITS.maxUdpPayload, 65,507 bytes) on datagrams that
 * arrive over a link, as on its SOCKS5 port: a DATAGRAM frame may carry more (its
 * limit leaves room for the longest address), so a hostile ingress could otherwise
 * make the exit send oversize datagrams (to an IPv6 target, up to 65,527 bytes left;
 * the kernel's EMSGSIZE lost the rest uncounted).
 * The exit's real UDP relay (relay-udp.ts, both kinds of exit) on a real link and sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import type { TargetAddress } from '../../src/protocol/address.js';
import { LIMITS } from '../../src/shared/limits.js';
import { TargetPolicy } from '../../src/shared/net/target-policy.js';
import { newUdpRelayCounters, relayUdpStream } from '../../src/exit/relay-udp.js';
import { linkPair } from '../helpers/link-pair.js';
import { eventually } from '../helpers/eventually.js';

const has6 = await new Promise<boolean>((resolve) => {
  const s = createSocket('udp6');
  s.once('error', () => resolve(false));
  s.bind(0, '::1', () => s.close(() => resolve(true)));
});

/** A UDP target noting the size of every datagram, answering `ok` to each. */
async function sizeTarget(host: string): Promise<{ port: number; sizes: number[]; close(): void }> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const sizes: number[] = [];
  socket.on('message', (msg, rinfo) => {
    sizes.push(msg.length);
    socket.send('ok', rinfo.port, rinfo.address);
  });
  socket.bind(0, host);
  await once(socket, 'listening');
  return { port: socket.address().port, sizes, close: () => socket.close() };
}

test('datagrams over a link larger than the UDP payload limit are dropped and counted at the exit; the association goes on', { timeout: 20_000 }, async () => {
  const counters = newUdpRelayCounters();
  const pair = await linkPair();
  const targets = [await sizeTarget('127.0.0.1'), ...(has6 ? [await sizeTarget('::1')] : [])];
  try {
    pair.server.on('stream', (s) => {
      const egress = { localAddress: '127.0.0.1', localAddress6: has6 ? '::1' : undefined };
      const policy = new TargetPolicy({ allow: ['127.0.0.0/8', '::1/128'], deny: [], ports: [] });
      relayUdpStream(s, { egress, policy, idleMs: 60_000 }, counters).catch(() => s.destroy());
    });
    // The hostile ingress: its own link session, sending what the frame allows.
    const s = await pair.client.openDatagrams();
    s.on('error', () => undefined);
    const replies: string[] = [];
    s.on('datagram', (from: TargetAddress) => replies.push(`${from.host}:${from.port}`));
    let sent = 0;
    for (const [i, t] of targets.entries()) {
      const host = i === 0 ? '127.0.0.1' : '::1';
      // One over the limit, the most an IPv6 UDP datagram can carry, the most a frame carries; then one at the limit.
      // One at a time: two of them fill the stream's datagram queue (128 KiB).
      for (const n of [LIMITS.maxUdpPayload + 1, 65_527, 65_740, LIMITS.maxUdpPayload]) {
        assert.equal(s.sendDatagram({ host, port: t.port }, Buffer.alloc(n, 0x61)), true, `a frame carries ${n} bytes to ${host}`);
        sent++;
        await eventually(`datagram ${sent} handed over at the exit`, () => counters.datagramsOut === sent);
      }
      await eventually(`the datagram at the limit reached ${host}`, () => t.sizes.includes(LIMITS.maxUdpPayload));
    }
    for (const t of targets) assert.ok(t.sizes.every((n) => n <= LIMITS.maxUdpPayload), `sizes seen: ${t.sizes.join(', ')}`);
    assert.equal(counters.datagramsRefused, sent - targets.length, 'the oversize ones counted as refused');
    await eventually('an answer to each datagram at the limit, none to the others', () => replies.length === targets.length);
    assert.equal(s.destroyed, false, 'the association still open');
  } finally {
    for (const t of targets) t.close();
    await pair.close();
  }
});

/**
 * A UDP reply the customer cannot be sent: the SOCKS5 header (10 bytes for an IPv4 source, 22 for IPv6)
 * on a target's largest datagram is past what one IPv4 datagram (65,507 bytes) or one UDP-in-TCP frame
 * (65,535) holds. Such a reply is dropped and counted: not billed as delivered (the UDP send failed
 * silently, EMSGSIZE), and not thrown out of the way-out socket's handler (encodeFrame's RangeError).
 * And a customer's datagram the target policy refuses (a forbidden port or literal address) is dropped
 * before it is billed, as a refused CONNECT costs nothing.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { startTestIngress, USER } from '../helpers/ingress.js';
import { exitEntry, startTestExit } from '../helpers/exits.js';
import { eventually } from '../helpers/eventually.js';
import { socksUdpCustomer } from '../helpers/socks-client.js';
import { socks5ConnectRaw } from '../helpers/socks5-raw.js';
import { CMD } from '../../src/protocol/socks5/codec.js';
import { encodeUdpDatagram, parseUdpDatagram } from '../../src/protocol/socks5/udp-header.js';
import { encodeFrame, FrameScanner } from '../../src/protocol/socks5/udp-in-tcp.js';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A UDP target on `host` that answers "big" with `bigBytes` bytes (0: never) and anything else with an echo. */
async function udpTarget(host: string, bigBytes = 0): Promise<number> {
  const target = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  target.on('message', (msg, rinfo) => {
    const reply = bigBytes > 0 && msg.toString() === 'big' ? Buffer.alloc(bigBytes, 0x61) : Buffer.concat([Buffer.from('echo:'), msg]);
    target.send(reply, rinfo.port, rinfo.address);
  });
  target.bind(0, host);
  await once(target, 'listening');
  cleanups.push(() => target.close());
  return target.address().port;
}

/** A UDP-in-TCP customer (a frame holds 65,535 bytes, more than one IPv4 datagram): its send and the payloads it got back. */
async function udpInTcpCustomer(port: number, user: string): Promise<{ send: (to: { host: string; port: number }, data: Buffer) => void; replies: string[] }> {
  const control = await socks5ConnectRaw(port, user, USER.password, '0.0.0.0', 0, { cmd: CMD.UDP_IN_TCP });
  cleanups.push(() => control.destroy());
  const replies: string[] = [];
  const scanner = new FrameScanner();
  control.on('data', (chunk: Buffer) => {
    for (const frame of scanner.feed(chunk)) {
      const d = parseUdpDatagram(frame);
      if (d.kind === 'ok') replies.push(d.value.data.toString());
    }
  });
  control.resume();
  return { send: (to, data) => control.write(encodeFrame(encodeUdpDatagram(to, data))), replies };
}

test('a reply too large for the customer is dropped and counted; the association lives on and carries the next reply', async () => {
  const port = await udpTarget('127.0.0.1', 65_507); // the most one IPv4 datagram carries

  const t = await startTestIngress();
  cleanups.push(() => t.stop());
  const c = await socksUdpCustomer(t.port, USER.login, USER.password, (end) => cleanups.push(end));
  let closed = false;
  c.assoc.socket.once('close', () => (closed = true));

  c.send('127.0.0.1', port, 'first');
  await eventually('the first echo', () => c.replies.includes(`127.0.0.1:${port} echo:first`));
  c.send('127.0.0.1', port, 'big');
  c.send('127.0.0.1', port, 'after');
  await eventually('the echo sent after the oversized reply', () => c.replies.includes(`127.0.0.1:${port} echo:after`) || closed);
  assert.equal(closed, false, 'the association stays open');
  assert.equal(c.replies.length, 2, `only the two echoes arrived: ${c.replies.map((r) => r.slice(0, 40)).join(', ')}`);
  assert.equal(t.ingress.runtime.udp.tooLarge.down, 1, 'the oversized reply is counted');
  const udp = [...t.ingress.runtime.sessions].find((s) => s.command === 'udp');
  assert.equal(udp?.counters.down, 'echo:first'.length + 'echo:after'.length, 'only what reached the customer is counted as theirs');
});

test('UDP in TCP: an IPv6 target\'s largest reply (65,527 bytes, 22 of header: past one 65,535-byte frame) is dropped and counted, not thrown out of the socket\'s handler', async () => {
  const port = await udpTarget('::1', 65_527); // the most one IPv6 datagram carries
  const t = await startTestIngress();
  cleanups.push(() => t.stop());
  const { send, replies } = await udpInTcpCustomer(t.port, USER.login);
  send({ host: '::1', port }, Buffer.from('big'));
  send({ host: '::1', port }, Buffer.from('after'));
  await eventually('the echo sent after the oversized reply', () => replies.includes('echo:after'));
  assert.deepEqual(replies, ['echo:after']);
  assert.equal(t.ingress.runtime.udp.tooLarge.down, 1, 'the oversized reply is counted');
});

test('to a SOCKS5 exit: a customer\'s datagram that its relay cannot take in one datagram (a 253-byte name before 65,275 bytes) is dropped and counted, not billed, and the association carries on', async () => {
  const exit = await startTestExit('udp-big', '127.0.0.31');
  cleanups.push(() => exit.node.shutdown(100));
  const port = await udpTarget('127.0.0.1');
  const t = await startTestIngress({ exits: [exitEntry(exit, 'us')] });
  cleanups.push(() => t.stop());
  const { send, replies } = await udpInTcpCustomer(t.port, `${USER.login}-country-us`);
  const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`; // 253: the longest name
  send({ host: name, port: 9 }, Buffer.alloc(65_535 - 260, 0x61)); // one full frame
  send({ host: '127.0.0.1', port }, Buffer.from('after'));
  await eventually('the echo of the datagram after the big one', () => replies.includes('echo:after'));
  assert.equal(t.ingress.runtime.udp.tooLarge.up, 1, 'the datagram the relay cannot take is counted');
  const udp = [...t.ingress.runtime.sessions].find((s) => s.command === 'udp');
  assert.equal(udp?.counters.up, 'after'.length, 'only what was sent on is counted as the customer\'s');
});

test('a datagram to a forbidden port or address is dropped and counted before billing, direct and through an exit; the association carries on', async () => {
  const exit = await startTestExit('udp-refused', '127.0.0.32');
  cleanups.push(() => exit.node.shutdown(100));
  const port = await udpTarget('127.0.0.1');
  const t = await startTestIngress({ exits: [exitEntry(exit, 'us')], targetPolicy: { allow: ['127.0.0.0/8', '::1/128'], ports: [port] } });
  cleanups.push(() => t.stop());
  for (const [user, how] of [[USER.login, 'direct'], [`${USER.login}-country-us`, 'through the exit']] as const) {
    const before = t.ingress.runtime.udp.refused;
    const { send, replies } = await udpInTcpCustomer(t.port, user);
    send({ host: '10.1.2.3', port }, Buffer.alloc(1000, 0x61)); // an address outside the allowed networks
    send({ host: '127.0.0.1', port: port === 65535 ? 1 : port + 1 }, Buffer.alloc(1000, 0x62)); // a port not allowed
    send({ host: '127.0.0.1', port }, Buffer.from('after'));
    await eventually(`${how}: the echo of the datagram after the refused ones`, () => replies.includes('echo:after'));
    assert.equal(t.ingress.runtime.udp.refused - before, 2, `${how}: both refused datagrams counted`);
    const udp = [...t.ingress.runtime.sessions].filter((s) => s.command === 'udp').at(-1);
    assert.equal(udp?.counters.up, 'after'.length, `${how}: only what was sent on is billed to the customer`);
  }
});

/**
 * A reverse exit serves UDP streams on its links as a forward exit does (the
 * exit side is shared: src/exit/relay-udp.ts), with the ingress's networks from
 * the OPEN applied to every datagram's resolved target. The ingress here is a
 * stand-in that accepts the exit's link and opens the UDP stream itself, to
 * check the exit's side alone; the real ingress's is reverse-udp.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { acceptedPacket, linkOpenContext, parseRegistration } from '../../src/protocol/work-packet/messages.js';
import { parsePacket } from '../../src/protocol/work-packet/codec.js';
import { LinkSession } from '../../src/link/session.js';
import type { TargetAddress } from '../../src/protocol/address.js';
import type { ReverseExitClient } from '../../src/exit/reverse-client.js';
import { startReverseExit, tunnelCert } from '../helpers/reverse.js';
import { eventually } from '../helpers/eventually.js';
import { startEchoServer, withTimeout } from '../helpers/net.js';

/** The exit's registration, then the link the stand-in ingress accepts it as. */
function acceptAsLink(socket: TLSSocket, udpDrainMs?: number): Promise<LinkSession> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const r = parsePacket(buf);
      if (r.kind === 'more') return;
      socket.off('data', onData);
      if (r.kind === 'error' || typeof parseRegistration(r.value) === 'string') return reject(new Error('no registration'));
      socket.write(acceptedPacket(1000, true));
      resolve(new LinkSession(socket, { dialled: false, name: 'stand-in ingress', ...(udpDrainMs !== undefined ? { udpDrainMs } : {}) }));
    };
    socket.on('data', onData);
  });
}

/**
 * A stand-in ingress's tunnel port (TLS) and a reverse exit dialling it with `options`: the exit and the
 * link it registered as; `close` stops both. `udpDrainMs`: the stand-in's own drain bound for UDP.
 */
async function reverseExitOnLink(id: string, egress: string, options: Parameters<typeof startReverseExit>[3], udpDrainMs?: number): Promise<{ exit: ReverseExitClient; session: LinkSession; close: () => Promise<void> }> {
  const cert = tunnelCert();
  let link: Promise<LinkSession> | undefined;
  const server = createTlsServer({ cert: cert.pem, key: readFileSync(cert.key) }, (s) => {
    link = acceptAsLink(s, udpDrainMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const exit = startReverseExit((server.address() as { port: number }).port, id, egress, options);
  const close = async (): Promise<void> => {
    await exit.stop(0);
    server.close();
  };
  try {
    const session = await withTimeout(eventually('the exit connected', () => link), 5000, 'the link');
    return { exit, session, close };
  } catch (err) {
    await close();
    throw err;
  }
}

test("a reverse exit's UDP stream: datagrams leave from its egress, targets outside the ingress's networks are refused and counted", { timeout: 20_000 }, async () => {
  const target = createSocket('udp4');
  const seen: RemoteInfo[] = [];
  target.on('message', (m, r) => {
    seen.push(r);
    target.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address);
  });
  target.bind(0, '127.0.0.1');
  await once(target, 'listening');
  const { exit, session, close } = await reverseExitOnLink('e1', '127.0.0.48', { mode: 'link', links: 1 });
  try {
    // The ingress's rule for this exit (its `targets:`): never 127.0.0.9; the exit's own policy allows all of loopback.
    const stream = await session.openDatagrams(linkOpenContext({ purpose: 'connect', denyNets: ['127.0.0.9/32'] }));
    stream.on('error', () => undefined);
    const replies: string[] = [];
    stream.on('datagram', (from: TargetAddress, d: Buffer) => replies.push(`${from.host}:${from.port} ${d.toString()}`));
    const port = target.address().port;
    stream.sendDatagram({ host: '127.0.0.9', port }, Buffer.from('denied'));
    await eventually('the denied datagram refused', () => exit.counters.datagramsRefused === 1);
    stream.sendDatagram({ host: '127.0.0.1', port }, Buffer.from('hi'));
    await eventually('the echo', () => replies.length === 1);
    assert.deepEqual(replies, [`127.0.0.1:${port} echo:hi`]);
    assert.deepEqual(seen.map((r) => r.address), ['127.0.0.48'], "the target saw the exit's egress");
    assert.deepEqual([exit.counters.udpStreams, exit.counters.datagramsOut, exit.counters.datagramsBack], [1, 2, 1]);
    // A bad network in the OPEN is refused with the reason, as a TCP stream's is.
    await assert.rejects(session.openDatagrams({ 'deny-nets': 'not a net' }), /BAD_REQUEST.*bad network/);
  } finally {
    await close();
    target.close();
  }
});

test("a reverse exit ends a drained link's UDP streams at its own drain bound (--drain-ms), not a fixed 10 s", { timeout: 20_000 }, async () => {
  // The stand-in ingress's own bound is long: only the exit's can end the stream in time.
  const { session, close } = await reverseExitOnLink('e2', '127.0.0.49', { mode: 'link', links: 1, drainTimeoutMs: 300 }, 60_000);
  try {
    const stream = await session.openDatagrams(linkOpenContext({ purpose: 'connect' }));
    stream.on('error', () => undefined);
    const ended = new Promise<void>((r) => stream.once('close', () => r()));
    const drainedAt = Date.now();
    session.drain();
    await withTimeout(ended, 5000, "the exit ended the drained link's UDP stream");
    assert.ok(Date.now() - drainedAt >= 250, `ended ${Date.now() - drainedAt} ms after the GOAWAY, not before the exit's bound`);
  } finally {
    await close();
  }
});

test("a reverse exit's stop() without a bound drains for its own drainTimeoutMs (the CLI's --drain-ms), not a fixed 10 s", { timeout: 20_000 }, async () => {
  const echo = await startEchoServer();
  const { exit, session, close } = await reverseExitOnLink('e3', '127.0.0.50', { mode: 'link', links: 1, drainTimeoutMs: 300 });
  try {
    // A live TCP tunnel: it holds the drained link open until the drain bound cuts it.
    const stream = await session.open('127.0.0.1', echo.port, linkOpenContext({ purpose: 'connect' }));
    stream.on('error', () => undefined);
    stream.write('ping');
    await withTimeout(once(stream, 'data'), 5000, 'the echo');
    const t0 = Date.now();
    await withTimeout(exit.stop(), 5000, "stop() within the exit's drainTimeoutMs");
    assert.ok(Date.now() - t0 >= 250, `stopped ${Date.now() - t0} ms after: the live tunnel had its drain time`);
  } finally {
    await close();
    await echo.close();
  }
});

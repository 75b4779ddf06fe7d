/**
 * The back of bench/bare-relay.ts's bare pair: takes one connection per tunnel (TCP, or TLS 1.3
 * with `tls`, on a fresh self-signed key), reads 6 bytes of IPv4 target, connects it, answers one
 * status byte (0 connected, 1 not) and pipes both ways. No framing, policy or accounting: with the
 * front it is the least two Node.js processes can cost for an ingress → exit leg (issue 19).
 *
 *   node dist/bench/bare-back.js PORT [tls]
 */
import { connect, createServer as netServer, type Socket } from 'node:net';
import { createServer as tlsServer } from 'node:tls';
import { createLinkIdentity } from '../src/link/identity.js';

const port = Number(process.argv[2]);
const tls = process.argv[3] === 'tls';

function serve(front: Socket): void {
  front.setNoDelay(true);
  front.on('error', () => front.destroy());
  let head = Buffer.alloc(0);
  front.on('data', function onHead(d: Buffer): void {
    head = Buffer.concat([head, d]);
    if (head.length < 6) return;
    front.off('data', onHead);
    front.pause();
    const up = connect({ host: `${head[0]}.${head[1]}.${head[2]}.${head[3]}`, port: head.readUInt16BE(4), noDelay: true });
    up.once('error', () => front.end(Buffer.from([1])));
    up.once('connect', () => {
      front.write(Buffer.from([0]));
      if (head.length > 6) up.write(head.subarray(6));
      up.on('error', () => front.destroy());
      front.on('close', () => up.destroy());
      up.on('close', () => front.destroy());
      front.pipe(up);
      up.pipe(front);
    });
  });
}

function tlsBack(): ReturnType<typeof tlsServer> {
  const { key, cert } = createLinkIdentity('bench bare back');
  return tlsServer({ key, cert, minVersion: 'TLSv1.3' }, serve);
}

const server = tls ? tlsBack() : netServer(serve);
server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));

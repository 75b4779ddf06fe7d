/**
 * The least a Node.js SOCKS5 relay can cost: RFC 1928/1929 with one fixed
 * credential, IPv4 CONNECT, socket.pipe both ways — no policy, routing,
 * limits, logs or metrics. A benchmark contender only (bench/run.ts), so the
 * figures show how much of hopgate's cost per connection is Node's own.
 *
 *   node dist/bench/bare-relay.js PORT USER PASS [BACK_PORT [tls]]
 *
 * With BACK_PORT the relay is the front of a bare pair (issue 19's floor for
 * an ingress and an exit): each CONNECT goes to a second process,
 * bench/bare-back.ts, one TCP (or, with `tls`, TLS 1.3) connection per
 * tunnel, 6 bytes of target, then 1 status byte back before the SOCKS5 reply.
 */
import { connect, createServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

const [port, user, pass] = [Number(process.argv[2]), process.argv[3] ?? '', process.argv[4] ?? ''];
const backPort = process.argv[5] === undefined ? undefined : Number(process.argv[5]);
const backTls = process.argv[6] === 'tls';
const expected = Buffer.concat([Buffer.from([1, user.length]), Buffer.from(user), Buffer.from([pass.length]), Buffer.from(pass)]);
const METHOD = Buffer.from([5, 2]);
const AUTH_OK = Buffer.from([1, 0]);
const AUTH_FAIL = Buffer.from([1, 1]);
const REFUSED = Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);

function serve(client: Socket): void {
  client.on('error', () => client.destroy());
  let step = 0;
  client.on('data', function onHandshake(d: Buffer): void {
    // The benchmark's client sends each step whole and waits for the answer.
    if (step === 0) {
      step = 1;
      client.write(METHOD);
    } else if (step === 1) {
      if (!d.equals(expected)) return void client.end(AUTH_FAIL);
      step = 2;
      client.write(AUTH_OK);
    } else {
      client.off('data', onHandshake);
      client.pause();
      const up = backPort === undefined ? connect({ host: `${d[4]}.${d[5]}.${d[6]}.${d[7]}`, port: d.readUInt16BE(8), noDelay: true }) : viaBack(d.subarray(4, 10));
      up.once('error', () => client.end(REFUSED));
      up.once(backPort === undefined ? 'connect' : 'ready-to-relay', () => {
        const r = Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        r.writeUInt16BE(up.localPort ?? 0, 8);
        client.write(r);
        up.on('error', () => client.destroy());
        client.on('close', () => up.destroy());
        up.on('close', () => client.destroy());
        client.pipe(up);
        up.pipe(client);
      });
    }
  });
}

/** A connection to the back process asking for `target` (4 address bytes, 2 port bytes); 'ready-to-relay' once the back has connected it. */
function viaBack(target: Buffer): Socket {
  const back = backTls
    ? tlsConnect({ host: '127.0.0.1', port: backPort!, rejectUnauthorized: false, minVersion: 'TLSv1.3' })
    : connect({ host: '127.0.0.1', port: backPort! });
  back.setNoDelay(true);
  back.write(target);
  back.once('data', function status(d: Buffer): void {
    if (d[0] !== 0) return void back.destroy(new Error('back refused'));
    back.pause();
    if (d.length > 1) back.unshift(d.subarray(1));
    back.emit('ready-to-relay');
  });
  return back;
}

createServer({ noDelay: true }, serve).listen({ host: '127.0.0.1', port, backlog: 4096 }, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0)); // exit normally: lets --cpu-prof write its profile

/**
 * A client that leaves (a reset) while the ingress is still opening its route
 * (a slow exit) leaves nothing behind: no request is sent for it once the
 * route opens, and no connection to the target stays open, whatever the
 * front (HTTP forward, HTTP CONNECT, SOCKS5). Else a target that never
 * answers holds an orphaned upstream (and the exit's session with it) for
 * good: the live fuzz found this under load.
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { listen0 } from '../helpers/net.js';
import { eventually } from '../helpers/eventually.js';
import { socks5PipelinedConnect } from '../helpers/socks5-raw.js';
import { startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { PROXY_AUTH } from '../helpers/http-raw.js';

const EXIT_DELAY_MS = 400;
/** How many CONNECTs the slow exit has finished waiting on (it then opens the target, or finds its client gone). */
let exitDecided = 0;
/** How the ingress ended each of its connections to the exit: a reset, or a FIN (which says "request complete, awaiting the answer"). */
const exitHeard: Array<'reset' | 'fin'> = [];

/** A third-party SOCKS5 exit (no auth) that takes EXIT_DELAY_MS to open each target. */
function slowSocksExit(): Server {
  return createServer((s) => {
    s.on('error', (err: NodeJS.ErrnoException) => void (err.code === 'ECONNRESET' && exitHeard.push('reset')));
    s.on('end', () => exitHeard.push('fin'));
    let buf = Buffer.alloc(0);
    let stage = 0;
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (stage === 0 && buf.length >= 2 && buf.length >= 2 + buf[1]!) {
        buf = buf.subarray(2 + buf[1]!);
        s.write(Buffer.from([5, 0]));
        stage = 1;
      }
      if (stage === 1 && buf.length >= 10 && buf[3] === 1) {
        const port = buf.readUInt16BE(8);
        const rest = buf.subarray(10);
        stage = 2;
        s.off('data', onData);
        s.pause();
        setTimeout(() => {
          exitDecided++;
          if (s.destroyed) return;
          const t = connect({ port, host: '127.0.0.1' }, () => {
            s.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
            if (rest.length > 0) t.write(rest);
            s.pipe(t).pipe(s);
            s.resume();
          });
          t.on('error', () => s.destroy());
          s.on('close', () => t.destroy());
          t.on('close', () => s.destroy());
        }, EXIT_DELAY_MS);
      }
    };
    s.on('data', onData);
  });
}

let exit: Server;
let target: Server;
/** The target's connections still open, and every byte it received. */
const open = new Set<Socket>();
let received = '';
let ingress: TestIngress;

before(async () => {
  exit = slowSocksExit();
  const exitPort = await listen0(exit);
  // A target that reads and never answers (a hanging origin); a FIN closes it.
  target = createServer((s) => {
    open.add(s);
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => (received += d.toString('latin1')));
    s.on('close', () => open.delete(s));
  });
  await listen0(target);
  ingress = await startTestIngress({ exits: [{ id: 'slow', kind: 'socks5', host: '127.0.0.1', port: exitPort, country: 'us' }] });
});

after(async () => {
  await ingress.stop();
  for (const s of open) s.destroy();
  target.close();
  exit.close();
});

// One case's leftover must not fail the next.
afterEach(() => {
  for (const s of open) s.destroy();
});

function targetPort(): number {
  return (target.address() as { port: number }).port;
}

/** Send `bytes`, leave with a reset before the exit has opened the target, then check what is left. */
async function leaveWhileConnecting(bytes: Buffer): Promise<void> {
  received = '';
  exitHeard.length = 0;
  const decided = exitDecided;
  const c = connect({ port: ingress.port, host: '127.0.0.1' });
  c.on('error', () => undefined);
  await new Promise<void>((r) => c.once('connect', () => r()));
  c.write(bytes);
  await eventually('the ingress asked the exit for the target', () => ingress.ingress.runtime.sessions.size === 1 && [...ingress.ingress.runtime.sessions][0]!.target !== undefined);
  c.resetAndDestroy();
  // The exit opens the target after its delay; whatever the ingress does then must let it go.
  await eventually('the exit has opened the target', () => exitDecided > decided, { timeoutMs: 3000 });
  await eventually('the target connection opened for the departed client is closed', () => open.size === 0, { timeoutMs: 3000 });
  await eventually('the ingress has no session left', () => ingress.ingress.runtime.sessions.size === 0, { timeoutMs: 3000 });
  // A FIN would leave a hopgate exit waiting on a half-closed target for an answer nobody reads.
  await eventually('the exit heard how the ingress let go', () => exitHeard.length > 0);
  assert.deepEqual(exitHeard, ['reset'], 'the ingress let go of the upstream with a FIN, not a reset');
}

test('HTTP forward: a client that leaves while the route opens gets no request sent and holds no target connection', async () => {
  const req = `GET http://127.0.0.1:${targetPort()}/gone HTTP/1.1\r\nHost: 127.0.0.1:${targetPort()}\r\n${PROXY_AUTH}\r\n`;
  await leaveWhileConnecting(Buffer.from(req, 'latin1'));
  assert.equal(received, '', 'a request was forwarded for a client that had left');
});

test('HTTP CONNECT: a client that leaves while the route opens holds no target connection', async () => {
  const req = `CONNECT 127.0.0.1:${targetPort()} HTTP/1.1\r\nHost: 127.0.0.1:${targetPort()}\r\n${PROXY_AUTH}\r\n`;
  await leaveWhileConnecting(Buffer.from(req, 'latin1'));
});

test('SOCKS5: a client that leaves while the route opens holds no target connection', async () => {
  await leaveWhileConnecting(socks5PipelinedConnect(targetPort(), USER.login, USER.password));
});

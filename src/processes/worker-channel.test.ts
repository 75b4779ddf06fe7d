/**
 * A worker's listeners on its primary's messages (onPrimary): a dropped message's handle is closed by
 * every listener, not only the one that reports it — in a YAML worker the tunnel intake's listener
 * (reportMalformed false) is there before the worker's own. The messages are emitted on `process`
 * as node:cluster delivers them (message, handle), with real sockets on loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect, createServer, type Socket } from 'node:net';
import { onPrimary, workerIntakeLink } from './worker-channel.js';
import type { PrimaryMessage } from './ipc-messages.js';
import { accepts, listen0 } from '../../test/helpers/ports.js';
import { withTimeout } from '../../test/helpers/net.js';

/** The lines written to stderr while `fn` runs. */
function stderrOf(fn: () => void): string[] {
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array): boolean => (lines.push(String(chunk)), true));
  try {
    fn();
  } finally {
    process.stderr.write = write;
  }
  return lines;
}

test('worker channel: a listener that does not report malformed messages still closes the handle that came with one', async () => {
  const got: PrimaryMessage[] = [];
  const detach = onPrimary((m) => void got.push(m), false); // as the tunnel intake's, alone before the worker's own
  const server = createServer((c) => c.destroy());
  try {
    const port = await listen0(server);
    // A reload takes no handle: dropped, and the server that came with it must not stay open here.
    const lines = stderrOf(() => process.emit('message', { type: 'hopgate:config:reload' }, server));
    assert.deepEqual(got, []);
    assert.deepEqual(lines, [], 'the reporting listener reports, not this one');
    assert.equal(server.listening, false, 'the handle closed');
    assert.equal(await accepts(port), false);
  } finally {
    detach();
    if (server.listening) server.close();
  }
});

test('worker channel: every listener closes a dropped message\'s handle, harmlessly twice (a UDP socket too); the drop is logged once', async () => {
  const got: PrimaryMessage[] = [];
  const detachA = onPrimary((m) => void got.push(m), false);
  const detachB = onPrimary((m) => void got.push(m));
  const udp = createSocket('udp4');
  const closes: number[] = [];
  udp.on('close', () => void closes.push(1));
  try {
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    // A UDP socket's second close() throws (ERR_SOCKET_DGRAM_NOT_RUNNING): the second listener must not close it again.
    const lines = stderrOf(() => process.emit('message', { type: 'hopgate:reverse:hello' }, udp));
    assert.deepEqual(got, []);
    assert.equal(lines.length, 1, `one line per dropped message: ${lines.join('')}`);
    assert.match(lines[0]!, /malformed message from the primary dropped \(hopgate:reverse:hello: a handle it does not take\)/);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(closes, [1], 'closed, once');
    // A good message still reaches both.
    process.emit('message', { type: 'hopgate:config:reload' }, undefined);
    assert.deepEqual(got, [{ type: 'hopgate:config:reload' }, { type: 'hopgate:config:reload' }]);
  } finally {
    detachA();
    detachB();
    if (closes.length === 0) udp.close();
  }
});

/** A connected pair on loopback: `ours` is what the primary would hand a worker, `client` the exit's end. */
async function tunnelPair(): Promise<{ ours: Socket; client: Socket; close: () => void }> {
  const server = createServer();
  const port = await listen0(server);
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const client = connect(port, '127.0.0.1');
  const ours = await accepted;
  return { ours, client, close: () => (ours.destroy(), client.destroy(), server.close()) };
}

test('worker channel: a tunnel connection handed over while no intake is attached is closed, not left open', async () => {
  const link = workerIntakeLink();
  const { ours, client, close } = await tunnelPair();
  const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  try {
    const handled: string[] = [];
    const detach = link.onMessage((m) => void handled.push(m.type));
    detach(); // the intake closed (a shutdown, a failed reload before its retry)
    process.emit('message', { type: 'hopgate:reverse:conn' }, ours);
    assert.deepEqual(handled, []);
    await withTimeout(clientClosed, 3000, 'the tunnel connection closed by the worker');
    assert.equal(ours.destroyed, true);
  } finally {
    close();
  }
});

test('worker channel: with an intake attached, the tunnel connection is its own (the channel does not close it)', async () => {
  const link = workerIntakeLink();
  const { ours, close } = await tunnelPair();
  const detach = link.onMessage(() => undefined);
  try {
    process.emit('message', { type: 'hopgate:reverse:conn' }, ours);
    await new Promise((r) => setTimeout(r, 100)); // a window: proves the channel did not close it
    assert.equal(ours.destroyed, false);
  } finally {
    detach();
    close();
  }
});

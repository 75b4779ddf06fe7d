/**
 * A closed tunnel intake stops listening on its link: a reload whose reverse node failed to start
 * (after its intake was made) closes that intake, and the next try makes another; the first, still
 * listening, destroyed every tunnel socket handed to the worker and reported it closed, unseating it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { TunnelIntake, type IntakeLink, type IntakeMsg } from './tunnel-intake.js';
import type { TunnelLoadMsg } from './tunnel-dispatch.js';
import { listen0 } from '../../../test/helpers/ports.js';

/** A link to no primary: what the intake sends, and the handlers attached now. */
function fakeLink(): IntakeLink & { sent: TunnelLoadMsg[]; handlers: Set<(m: IntakeMsg, s: Socket | undefined) => void>; deliver(m: IntakeMsg, s?: Socket): void } {
  const sent: TunnelLoadMsg[] = [];
  const handlers = new Set<(m: IntakeMsg, s: Socket | undefined) => void>();
  return {
    sent,
    handlers,
    send: (m) => (sent.push(m), true),
    onMessage(handler) {
      handlers.add(handler);
      return () => void handlers.delete(handler);
    },
    deliver(m, s) {
      for (const h of [...handlers]) h(m, s);
    },
  };
}

test('tunnel intake: once closed, it hears nothing more from its link (a tunnel socket for the next intake is not destroyed, nothing is sent)', async () => {
  const server = createServer();
  const accepted: Socket[] = [];
  server.on('connection', (s) => void accepted.push(s));
  const port = await listen0(server);
  const client = connect(port, '127.0.0.1');
  client.on('error', () => undefined);
  const link = fakeLink();
  const intake = new TunnelIntake({}, () => 5000, () => undefined, { load: () => 0, exitCounts: () => [], releaseIdle: () => false }, link);
  try {
    assert.equal(link.handlers.size, 1);
    assert.deepEqual(
      link.sent.map((m) => m.open),
      [true],
      'its first report',
    );
    link.deliver({ type: 'hopgate:reverse:hello' });
    assert.equal(link.sent.length, 2, 'a hello is answered while open');

    intake.close();
    assert.deepEqual(
      link.sent.map((m) => m.open),
      [true, true, false],
      'closed: reported once',
    );

    await new Promise<void>((resolve) => (accepted.length > 0 ? resolve() : server.once('connection', () => resolve())));
    const raw = accepted[0]!;
    link.deliver({ type: 'hopgate:reverse:conn' }, raw);
    link.deliver({ type: 'hopgate:reverse:hello' });
    await new Promise((r) => setImmediate(r));
    assert.equal(raw.destroyed, false, 'the socket is not the closed intake\'s to destroy');
    assert.equal(link.sent.length, 3, 'nothing more sent');
    assert.equal(link.handlers.size, 0, 'detached from its link');
  } finally {
    intake.close();
    client.destroy();
    for (const s of accepted) s.destroy();
    server.close();
  }
});

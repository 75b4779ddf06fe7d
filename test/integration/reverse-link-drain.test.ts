/**
 * A reverse exit's links drained by the ingress (GOAWAY), or its idle work connections
 * ended by it (the older protocol): the exit dials a replacement at once
 * (docs/REVERSE-EXITS.md, "Draining and rotation", "Reconnecting"), even while an
 * earlier refused dial has it backing off.
 */
import { test } from 'node:test';
import { withTimeout } from '../helpers/net.js';
import { reverseEntry, reverseIngressBase, startReverseExit } from '../helpers/reverse.js';
import { eventually } from '../helpers/eventually.js';
import { Ingress } from '../../src/ingress/ingress.js';
import { IngressConfigSchema, type IngressConfigInput } from '../../src/shared/schema/ingress-config.js';
import { createLogger } from '../../src/shared/log.js';

async function config(exits: object[]): Promise<IngressConfigInput> {
  return { ...(await reverseIngressBase()), exits, reverse: { listen: { host: '127.0.0.1', port: 0 }, waitMs: 1000, heartbeatMs: 2000 } } as IngressConfigInput;
}

test('a drained link is replaced at once, not after the backoff an earlier refusal started', { timeout: 30_000 }, async () => {
  // Room for one link: the exit's second is refused (CONN_LIMIT) and it backs off for 10-20 s.
  const entry = (from: string[]) => reverseEntry('bko', '127.0.0.47', 'de', { maxConnections: 1, from });
  const ing = await Ingress.start(IngressConfigSchema.parse(await config([await entry(['127.0.0.0/8'])])), createLogger('silent'));
  const exit = startReverseExit(ing, 'bko', '127.0.0.47', { mode: 'link', links: 2, backoffMs: 20_000, maxBackoffMs: 20_000 });
  try {
    await withTimeout(exit.ready, 5000, 'exit registered');
    const registry = ing.runtime.reverse!.registry;
    // Counted at the ingress: the exit's lastRefusal is cleared if the other link's acceptance comes after it.
    await eventually('the second link refused (the exit now backs off)', () => registry.refused >= 1 && exit.stats().links === 1 && exit.stats().dialing === 0);
    const before = exit.counters.registered;
    // Another `from:` (still allowing the exit): the ingress drains the link (GOAWAY), the exit may register again.
    ing.reload(IngressConfigSchema.parse(await config([await entry(['127.0.0.1/32'])])));
    await eventually('the drained link replaced at once', () => exit.stats().links === 1 && exit.counters.registered > before, { timeoutMs: 3000 });
  } finally {
    await exit.stop(100);
    await ing.shutdown(0);
  }
});

test('an idle work connection the ingress ends is replaced at once, not after the backoff an earlier refusal started', { timeout: 30_000 }, async () => {
  const entry = (from: string[]) => reverseEntry('bkw', '127.0.0.48', 'de', { maxConnections: 1, from });
  const ing = await Ingress.start(IngressConfigSchema.parse(await config([await entry(['127.0.0.0/8'])])), createLogger('silent'));
  const exit = startReverseExit(ing, 'bkw', '127.0.0.48', { mode: 'work', pool: 2, backoffMs: 20_000, maxBackoffMs: 20_000 });
  try {
    await withTimeout(exit.ready, 5000, 'exit registered');
    const registry = ing.runtime.reverse!.registry;
    await eventually('the second work connection refused (the exit now backs off)', () => registry.refused >= 1 && exit.stats().idle === 1 && exit.stats().dialing === 0);
    const before = exit.counters.registered;
    // Another `from:` (still allowing the exit): the ingress ends the idle work connection.
    ing.reload(IngressConfigSchema.parse(await config([await entry(['127.0.0.1/32'])])));
    await eventually('the ended work connection replaced at once', () => exit.stats().idle === 1 && exit.counters.registered > before, { timeoutMs: 3000 });
  } finally {
    await exit.stop(100);
    await ing.shutdown(0);
  }
});

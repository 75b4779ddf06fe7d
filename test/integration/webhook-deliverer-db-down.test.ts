/**
 * The webhook deliverer while its database is down (a private PostgreSQL the
 * test stops and starts): one warning when the rounds start failing and one
 * line when they succeed again with the count of failed rounds, not one per
 * round (it polls every 50 ms here; before the fix: a warning each time).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ControlStore } from '../../src/control/store/index.js';
import { parseDbTarget } from '../../src/control/db.js';
import { WebhookDeliverer } from '../../src/control/events/deliverer.js';
import { privatePostgresUnavailable, startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.js';
import { eventually } from '../helpers/eventually.js';

const skip = privatePostgresUnavailable();

describe('webhook deliverer with the database down', { skip }, () => {
  let pg: PrivatePostgres;
  let store: ControlStore;
  let deliverer: WebhookDeliverer;
  const lines: Array<{ level: number; msg: string; failedRounds?: number }> = [];

  before(async () => {
    pg = await startPrivatePostgres();
    store = await ControlStore.open(parseDbTarget(pg.url));
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        done();
      },
    });
    deliverer = new WebhookDeliverer(store.outbox, { pollMs: 50, log: pino({ level: 'info' }, sink) });
    deliverer.start();
  });
  after(async () => {
    await deliverer?.close();
    await store?.close();
    await pg?.destroy();
  });

  it('logs the outage once and the recovery once, with the failed rounds counted', { timeout: 120_000 }, async () => {
    await pg.stop('immediate');
    await eventually('20 rounds failed', () => deliverer.failedRounds >= 20, { timeoutMs: 30_000 });
    const warnings = lines.filter((l) => l.level === 40);
    assert.equal(warnings.length, 1, `one warning for ${deliverer.failedRounds} failed rounds: ${JSON.stringify(warnings.slice(0, 3))}`);
    assert.match(warnings[0]!.msg, /webhook rounds failing/);
    await pg.start();
    const back = await eventually('recovery logged', () => lines.find((l) => l.msg === 'webhook rounds succeed again'), { timeoutMs: 60_000 });
    assert.ok((back.failedRounds ?? 0) >= 20, `failed rounds counted: ${back.failedRounds}`);
    assert.equal(deliverer.failedRounds, 0);
    assert.equal(lines.filter((l) => l.level === 40).length, 1, 'still one warning');
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildExitIndex, selectExit } from './select-exit.js';
import { ExitHealth } from './exit-health.js';
import { ExitSchema } from '../../shared/schema/ingress-config.js';

const exit = (id: string, ip: string, country: string) => ExitSchema.parse({ id, host: ip, port: 1080, egressIp: ip, country });
const index = buildExitIndex([exit('us-1', '10.0.0.1', 'us'), exit('us-2', '10.0.0.2', 'us'), exit('de-1', '10.0.0.3', 'de')]);

test('exitip pins one exit; an unknown one is NO_EXIT_MATCH', () => {
  assert.deepEqual(selectExit(index, { exitIp: '10.0.0.3' })?.exit.id, 'de-1');
  assert.equal(selectExit(index, { exitIp: '10.0.0.3' })?.pinned, true);
  assert.throws(() => selectExit(index, { exitIp: '10.9.9.9' }), /no exit with egress IP 10\.9\.9\.9/);
});

test('country filters, random picks within it, unknown country is refused', () => {
  const seen = new Set([0, 0.49, 0.5, 0.99].map((r) => selectExit(index, { country: 'us' }, undefined, () => r)!.exit.id));
  assert.deepEqual([...seen].sort(), ['us-1', 'us-2']);
  assert.throws(() => selectExit(index, { country: 'fr' }), /no exit in country fr/);
});

test('unusable exits are skipped; when none is usable the whole pool is used', () => {
  assert.equal(selectExit(index, { country: 'us' }, (e) => e.id !== 'us-1', () => 0)!.exit.id, 'us-2');
  assert.equal(selectExit(index, { country: 'de' }, () => false, () => 0)!.exit.id, 'de-1');
});

test('no exits: direct, unless the username asks for a place', () => {
  const none = buildExitIndex([]);
  assert.equal(selectExit(none, {}), undefined);
  assert.throws(() => selectExit(none, { country: 'us' }), /no exits/);
});

test('duplicate exit ids are a configuration error', () => {
  assert.throws(() => buildExitIndex([exit('a', '10.0.0.1', 'us'), exit('a', '10.0.0.2', 'us')]), /appears twice/);
});

test('health: a failure takes an exit out with doubling back-off; success restores it', () => {
  let now = 1000;
  const h = new ExitHealth(() => now);
  h.failed('x');
  assert.equal(h.isUp('x'), false);
  now += 2000;
  assert.equal(h.isUp('x'), true);
  h.failed('x'); // second failure: 4 s
  now += 3000;
  assert.equal(h.isUp('x'), false);
  h.succeeded('x');
  assert.equal(h.isUp('x'), true);
  h.failed('y');
  h.retain(new Set(['x']));
  assert.equal(h.isUp('y'), true);
});

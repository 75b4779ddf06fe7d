import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { z } from 'zod';
import { IngressConfigSchema } from './ingress-config.js';
import { MAX_TIMER_MS } from './timer-ms.js';
import { SettingsPatch } from '../../control/api-schemas.js';
import { exitConfig } from '../../cli/exit.js';

/** Millisecond settings compared with the clock, never handed to a timer: a bound past 2^31-1 means what it says. */
const NOT_TIMERS = new Map([
  ['legitimacy.detector.baselineHalfLifeMs', 'a decay weight (attack-detector.ts)'],
  ['legitimacy.detector.warmupMs', 'compared with the clock at each tick'],
  ['legitimacy.detector.calmMs', 'compared with the clock at each tick'],
  ['legitimacy.detector.maxFrozenMs', 'compared with the clock at each tick'],
  ['legitimacy.detector.idleResetMs', 'compared with the clock at each tick'],
  ['limits.authBackoffBaseMs', 'a refusal until a time (auth-throttle.ts), not a delayed answer'],
  ['limits.authBackoffMaxMs', 'a refusal until a time (auth-throttle.ts), not a delayed answer'],
]);

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
}
const def = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Every number field named like a duration of milliseconds (…Ms, …Timeout), with its largest accepted value. */
function durationFields(schema: z.ZodType, path: string[] = [], out = new Map<string, number>()): Map<string, number> {
  const d = def(schema);
  if (d.innerType) durationFields(d.innerType, path, out);
  else if (d.type === 'array' && d.element) durationFields(d.element, [...path, '[]'], out);
  else if (d.type === 'union' && d.options) for (const o of d.options) durationFields(o, path, out);
  else if (d.type === 'number' && /(Ms|Timeout)$/.test(path.at(-1) ?? '')) out.set(path.join('.'), (schema as z.ZodNumber).maxValue ?? Infinity);
  else if (d.type === 'object' && d.shape) for (const [k, v] of Object.entries(d.shape)) durationFields(v, [...path, k], out);
  return out;
}

test('every millisecond setting of the ingress (and exit) configuration that feeds a timer is at most 2^31-1: Node fires a longer one at once', () => {
  const fields = durationFields(IngressConfigSchema);
  for (const timeout of ['limits.handshakeTimeoutMs', 'limits.connectTimeoutMs', 'limits.idleTimeoutMs', 'limits.drainTimeoutMs', 'limits.exitProbeIntervalMs', 'reverse.heartbeatMs', 'links.heartbeatMs']) {
    assert.ok(fields.has(timeout), `the walk finds ${timeout}`);
  }
  const uncapped = [...fields].filter(([path, max]) => max > MAX_TIMER_MS && !NOT_TIMERS.has(path)).map(([path]) => path);
  assert.deepEqual(uncapped, []);
  for (const path of NOT_TIMERS.keys()) assert.ok(fields.has(path), `${path} is still a field`);
});

test('past the cap: a clear error naming the field; the cap itself is accepted', () => {
  const parse = (limits: Record<string, number>) => IngressConfigSchema.safeParse({ listen: { host: '127.0.0.1', ports: [0, 0] }, limits });
  for (const field of ['handshakeTimeoutMs', 'idleTimeoutMs', 'drainTimeoutMs', 'exitProbeIntervalMs']) {
    assert.ok(parse({ [field]: MAX_TIMER_MS }).success, `${field} at the cap`);
    const r = parse({ [field]: MAX_TIMER_MS + 1 });
    assert.equal(r.success, false, `${field} past the cap`);
    assert.deepEqual(r.error.issues.map((i) => i.path), [['limits', field]]);
    assert.match(r.error.issues[0]!.message, /at most 2147483647 ms/);
  }
  // The ingress waits 2 s longer than connectTimeoutMs for an exit's answer: that sum is a timer too.
  assert.ok(parse({ connectTimeoutMs: MAX_TIMER_MS - 2000 }).success);
  const r = parse({ connectTimeoutMs: MAX_TIMER_MS - 1999 });
  assert.equal(r.success, false);
  assert.match(r.error.issues[0]!.message, /at most 2147481647 ms/);
});

test("the control plane's settings and a hopgate exit's configuration refuse the same", () => {
  const patch = SettingsPatch.safeParse({ limits: { idleTimeoutMs: 2 ** 31 } });
  assert.equal(patch.success, false);
  assert.match(patch.error.issues[0]!.message, /at most 2147483647 ms/);
  const exit = { host: '127.0.0.1', port: 7001, egress: '127.0.0.1', allowFrom: ['127.0.0.1/32'], secretHash: '$scrypt$x' };
  assert.throws(() => exitConfig({ ...exit, connectTimeoutMs: 2 ** 31 }), /at most 2147481647 ms/);
  assert.equal(exitConfig({ ...exit, drainTimeoutMs: 2 ** 31 - 1 }).limits.drainTimeoutMs, 2 ** 31 - 1);
});

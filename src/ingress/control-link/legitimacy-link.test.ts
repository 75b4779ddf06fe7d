import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LegitimacySchema } from '../../shared/schema/ingress-config.js';
import { MAX_TIMER_MS } from '../../shared/schema/timer-ms.js';
import type { LegitimacyPostAnswer, LegitimacyPostBody } from '../../shared/control-protocol.js';
import type { RuleMessage } from '../../legitimacy/messages.js';
import { LegitimacyLink } from './legitimacy-link.js';

// A rule message the enforcer refuses: its NACK is something to post at once.
const bogus = { type: 'legitimacy.rules', revision: 1 } as unknown as RuleMessage;

function linkAnswering(post: (body: LegitimacyPostBody) => Promise<LegitimacyPostAnswer | undefined>): LegitimacyLink {
  return new LegitimacyLink({ ingressId: 'ing-1', reportIntervalMs: 60_000, config: LegitimacySchema.parse({}), post });
}

// flush() runs unawaited from a rule message and from the report timer: it must never reject,
// or one odd answer from the control plane would be an unhandled rejection that ends the ingress.
for (const [what, post] of [
  ['an answer without `acked`', () => Promise.resolve({} as LegitimacyPostAnswer)],
  ['a post that rejects', () => Promise.reject(new Error('socket hang up'))],
] as [string, (b: LegitimacyPostBody) => Promise<LegitimacyPostAnswer | undefined>][]) {
  test(`legitimacy link: ${what} is a counted post failure, not a rejection`, async () => {
    let posts = 0;
    const link = linkAnswering((b) => (posts++, post(b)));
    link.onRuleMessage(bogus);
    await assert.doesNotReject(link.flush());
    assert.equal(posts, 1);
    assert.equal(link.stats.postFailures, 1);
  });
}

// The interval comes from the control plane's `hello`: a value past the timers' cap would make Node fire the
// report timer every 1 ms (and under 100 ms is a flood of posts), so the ingress keeps the interval it has.
test("legitimacy link: a report interval under 100 ms or past the timers' cap is not taken (from hello, or at the start)", (t) => {
  const armed = t.mock.method(globalThis, 'setInterval');
  const delays = (): unknown[] => armed.mock.calls.map((c) => c.arguments[1]);
  const link = linkAnswering(() => Promise.resolve(undefined));
  t.after(() => link.stop());
  link.start();
  for (const ms of [2 ** 31, MAX_TIMER_MS + 1, 99, 0, -1, Number.NaN, Number.POSITIVE_INFINITY]) link.setReportInterval(ms);
  assert.deepEqual(delays(), [60_000]);
  link.setReportInterval(MAX_TIMER_MS);
  link.setReportInterval(100);
  assert.deepEqual(delays(), [60_000, MAX_TIMER_MS, 100]);
  // A link made after such a hello starts with the default instead.
  const late = new LegitimacyLink({ ingressId: 'ing-1', reportIntervalMs: 2 ** 31, config: LegitimacySchema.parse({}), post: () => Promise.resolve(undefined) });
  t.after(() => late.stop());
  late.start();
  assert.deepEqual(delays().at(-1), 10_000);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LegitimacySchema } from '../../shared/schema/ingress-config.js';
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

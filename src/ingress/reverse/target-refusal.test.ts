/**
 * A datagram refused at the ingress (a reverse exit's `targets:`, the ingress's own policy on a literal
 * target) is judged by a plain return value: a customer may send thousands a second, and a thrown and
 * caught ProxyError per datagram (its stack trace captured each time) made a flood of them expensive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkReverseTargets, reverseTargetRefusal } from './dial-reverse.js';
import { checkUnresolvedTarget, unresolvedTargetRefusal } from '../../shared/net/resolve-allowed.js';
import { TargetPolicy } from '../../shared/net/target-policy.js';
import { ReverseExitSchema } from '../../shared/schema/ingress-config.js';
import { targetKind } from '../../protocol/address.js';
import { isProxyError } from '../../shared/errors.js';

const exit = ReverseExitSchema.parse({ id: 'rv', kind: 'reverse', tokenHash: '$scrypt$x', targets: { allow: ['127.0.0.0/8'], deny: ['127.0.0.9/32'], ports: [53] } });
const t = (host: string, port: number) => ({ host, port, kind: targetKind(host) });

test("a reverse exit's targets: the reason as a value (undefined: admitted), the same verdicts as checkReverseTargets", () => {
  const cases = [t('127.0.0.1', 53), t('127.0.0.1', 54), t('127.0.0.9', 53), t('10.0.0.1', 53), t('dns.example', 53), t('dns.example', 80)];
  const verdicts = cases.map((c) => reverseTargetRefusal(exit, c));
  assert.deepEqual(verdicts.map((v) => v === undefined), [true, false, false, false, true, false]);
  assert.match(verdicts[1]!, /takes no requests for port 54/);
  assert.match(verdicts[2]!, /denied network/);
  assert.match(verdicts[3]!, /not in its networks/);
  // The thrower (a CONNECT's check) says the same, as TARGET_FORBIDDEN.
  for (const [i, c] of cases.entries()) {
    let thrown: unknown;
    try {
      checkReverseTargets(exit, c);
    } catch (err) {
      thrown = err;
    }
    assert.equal(thrown === undefined ? undefined : isProxyError(thrown) && thrown.code === 'TARGET_FORBIDDEN' && thrown.message, verdicts[i] ?? undefined);
  }
  assert.equal(reverseTargetRefusal({ ...exit, targets: undefined }, t('10.0.0.1', 1)), undefined, 'no targets: anything');
});

test("the ingress's policy on a literal target or a port: the reason as a value, the same verdicts as checkUnresolvedTarget", () => {
  const policy = new TargetPolicy({ allow: ['127.0.0.0/8'], deny: [], ports: [] });
  const cases = [t('127.0.0.1', 53), t('10.0.0.1', 53), t('dns.example', 53), t('127.0.0.1', 0)];
  for (const c of cases) {
    const why = unresolvedTargetRefusal(c, policy);
    let thrown: unknown;
    try {
      checkUnresolvedTarget(c, policy);
    } catch (err) {
      thrown = err;
    }
    assert.equal(thrown === undefined ? undefined : isProxyError(thrown) && thrown.message, why, `${c.host}:${c.port}`);
  }
  assert.equal(unresolvedTargetRefusal(t('127.0.0.1', 53), policy), undefined);
  assert.notEqual(unresolvedTargetRefusal(t('10.0.0.1', 53), policy), undefined);
});

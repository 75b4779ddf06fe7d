import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkedLoginDomain } from './login-domain-stats.js';
import { domainsWindow } from '../routes/login-domain.js';

test('checkedLoginDomain: what a hostile or buggy ingress sends that does not fit is dropped, the rest kept', () => {
  const m = '2026-01-01T00:00';
  const r = checkedLoginDomain({
    logins: [[1, 'login', m, 'alice', '1.2.3.0/24', 'ok', 1], [2, 'login', m, 'alice', '1.2.3.0/24', 'pwned', 1], [3, 'login', m, 'a\u0000b', 'x', 'ok', 1], [4, 'login', m, 'x'.repeat(65), 'x', 'ok', 1], [5, 'login', 'soon', 'a', 'x', 'ok', 1], [6, 'login', m, 'a', 'x', 'ok', -1]],
    domains: [[7, 'domain', m, 'alice', 'example.com', 1, 2, 3], [8, 'domain', m, 'alice', 'y'.repeat(257), 1, 2, 3], [9, 'domain', m, 'alice', 'é.com', 1, 2, 3], [10, 'domain', m, 'alice', 'a.com', 1.5, 2, 3], 'junk'],
  });
  assert.deepEqual(r.logins.map((x) => x[0]), [1]);
  assert.deepEqual(r.domains.map((x) => x[0]), [7]);
  assert.equal(r.dropped, 9);
  assert.deepEqual(checkedLoginDomain({}), { logins: [], domains: [], dropped: 0 }, 'an older ingress sends neither');
  assert.deepEqual(checkedLoginDomain({ logins: 'x', domains: 5 }), { logins: [], domains: [], dropped: 0 });
});

test('domainsWindow: ranges, calendar periods, from/to; bounded', () => {
  const now = Date.parse('2026-03-15T12:34:56Z');
  assert.deepEqual(domainsWindow({}, now), { from: '2026-03-14T12:34', to: '9999-12-31T23:59' });
  assert.deepEqual(domainsWindow({ period: '2026-02' }, now), { from: '2026-02-01T00:00', to: '2026-03-01T00:00' });
  assert.deepEqual(domainsWindow({ period: '2026-12' }, now), { from: '2026-12-01T00:00', to: '2027-01-01T00:00' });
  assert.deepEqual(domainsWindow({ period: '2026-02-28' }, now), { from: '2026-02-28T00:00', to: '2026-03-01T00:00' });
  assert.deepEqual(domainsWindow({ period: '2026-02-28T23' }, now), { from: '2026-02-28T23:00', to: '2026-03-01T00:00' });
  assert.deepEqual(domainsWindow({ from: '2026-03-01', to: '2026-03-02' }, now), { from: '2026-03-01T00', to: '2026-03-02T00:00' });
  for (const period of ['2026-02-30', '2026-13', '2026-02-28T24', '9999d']) assert.throws(() => domainsWindow({ period }, now), /query\.period/, period);
  assert.throws(() => domainsWindow({ period: '24h', from: '2026-01-01' }, now), /not both/);
});

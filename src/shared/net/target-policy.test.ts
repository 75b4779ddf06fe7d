import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TargetPolicy } from './target-policy.js';

const strict = new TargetPolicy({ allow: [], deny: [], ports: [] });

test('special ranges are refused by default', () => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1',
    '255.255.255.255', '::1', '::', 'fe80::1', 'fd00:ec2::254', 'fc00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '64:ff9b::a00:1',
    '168.63.129.16', '100.100.100.200', '2002:a00:1::1']) {
    assert.equal(strict.checkAddress(a).allowed, false, a);
  }
});

test('public unicast is allowed, including NAT64 of a public address', () => {
  for (const a of ['93.184.216.34', '1.1.1.1', '2606:4700::1111', '64:ff9b::5db8:d822']) assert.equal(strict.checkAddress(a).allowed, true, a);
});

test('allow overrides special ranges; deny wins over allow; ports', () => {
  const p = new TargetPolicy({ allow: ['127.0.0.0/8', '10.0.0.0/8'], deny: ['10.9.0.0/16', '8.8.8.8'], ports: [80, 443] });
  assert.equal(p.checkAddress('127.0.0.5').allowed, true);
  assert.equal(p.checkAddress('::ffff:127.0.0.5').allowed, true);
  assert.equal(p.checkAddress('10.1.1.1').allowed, true);
  assert.equal(p.checkAddress('10.9.1.1').allowed, false);
  assert.equal(p.checkAddress('8.8.8.8').allowed, false);
  assert.equal(p.checkPort(443).allowed, true);
  assert.equal(p.checkPort(22).allowed, false);
  assert.equal(strict.checkPort(0).allowed, false);
});

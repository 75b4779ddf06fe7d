/** What `npm start` prints: the ways to try the proxy, and where the dashboard is (a new operator's first look). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanBanner, type UpContract } from './up-banner.js';

const contract: UpContract = {
  ingress: { host: '127.0.0.1', ports: [8000, 8099], tls: true, tlsCert: '/s/tls/cert.pem' },
  users: [{ username: 'demo', password: 'pw' }],
  exits: [{ id: 'us-1', egressIp: '127.0.0.2', country: 'us', kind: 'hopgate' }],
  control: { url: 'http://127.0.0.1:7700', adminToken: 'hgop_x' },
  demoTarget: 'http://127.0.0.1:7780/',
};

test('the banner names the dashboard and a curl line for every proxy mode', () => {
  const text = humanBanner(contract, 2);
  assert.match(text, /^ {2}dashboard: http:\/\/127\.0\.0\.1:7700\/dashboard /m);
  for (const mode of ['http://demo:pw@', 'socks5h://demo:pw@', 'socks4a://demo%3Apw@', '--proxy-cacert /s/tls/cert.pem -x https://demo:pw@']) {
    assert.ok(text.includes(`${mode}127.0.0.1:8000 http://127.0.0.1:7780/`), mode);
  }
});

test('the banner runs the CLI as ./hopgate from the clone, never through npx', () => {
  const text = humanBanner(contract, 2);
  assert.match(text, /^ {2}\.\/hopgate user add alice /m);
  assert.doesNotMatch(text, /npx/);
});

test('without a control plane there is no dashboard line', () => {
  assert.doesNotMatch(humanBanner({ ...contract, control: null }, 1), /dashboard/);
});

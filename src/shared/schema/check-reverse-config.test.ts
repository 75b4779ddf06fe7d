import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IngressConfigSchema } from './ingress-config.js';
import { checkReverseConfig, usesReverse } from './check-reverse-config.js';

const HASH = '$scrypt$ln=10,r=8,p=1$c2FsdA$aGFzaA';
const cert = { cert: '/etc/hopgate/cert.pem', key: '/etc/hopgate/key.pem' };
const site = (host: string, extra: object = {}) => ({ host, exit: 'office-1', target: '10.1.2.3:80', ...extra });
const config = (over: object) => IngressConfigSchema.parse({ exits: [{ id: 'office-1', kind: 'reverse', tokenHash: HASH }, { id: 'fwd', kind: 'socks5', host: '10.0.0.1', port: 1080 }], ...over });
const listen = { host: '127.0.0.1', port: 0 };

test('reverse config: what is refused, with the reason', () => {
  const cases: Array<[object, RegExp]> = [
    [{}, /need a certificate for the tunnel port/],
    [{ tls: cert, reverse: { publishListen: listen, publish: [site('a.internal', { exit: 'fwd' })] } }, /names exit 'fwd', which is not a reverse exit/],
    [{ tls: cert, reverse: { publishListen: listen, publish: [site('a.internal'), site('A.internal')] } }, /host A\.internal appears twice/],
    [{ tls: cert, reverse: { publish: [site('a.internal')] } }, /needs reverse\.publishListen or reverse\.publishTlsListen/],
  ];
  for (const [over, why] of cases) assert.throws(() => checkReverseConfig(config(over)), why, JSON.stringify(over));
});

test('reverse config: HTTPS sites need their own certificate or a default one', () => {
  // No default certificate: every site on the HTTPS port brings its own.
  const noDefault = IngressConfigSchema.parse({ reverse: { publishTlsListen: listen, publish: [] } });
  assert.throws(() => checkReverseConfig(noDefault), /the sites have no certificate/);
  const bare = IngressConfigSchema.parse({
    exits: [{ id: 'office-1', kind: 'reverse', tokenHash: HASH }],
    reverse: { tls: cert, publishTlsListen: listen, publish: [site('a.internal')] },
  });
  checkReverseConfig(bare); // reverse.tls is the default
  const own = IngressConfigSchema.parse({
    exits: [{ id: 'office-1', kind: 'reverse', tokenHash: HASH }],
    tls: cert,
    reverse: { publishTlsListen: listen, publish: [site('a.internal', { tls: cert })] },
  });
  checkReverseConfig(own);
  assert.equal(usesReverse(own), true);
  assert.equal(usesReverse(IngressConfigSchema.parse({})), false);
});

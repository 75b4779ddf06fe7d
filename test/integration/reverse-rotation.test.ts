/**
 * A new exit token locks the old one out at once — including registrations
 * that were already queued for their (deliberately slow) scrypt check when
 * the new token arrived: after a leak, the rotation is what stops the thief.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ingress } from '../../src/ingress/ingress.js';
import { IngressConfigSchema } from '../../src/shared/schema/ingress-config.js';
import { hashPassword } from '../../src/shared/auth/password-hash.js';
import { createLogger } from '../../src/shared/log.js';
import { startReverseExit, tunnelCert } from '../helpers/reverse.js';
import { eventually } from '../helpers/eventually.js';

const OLD = 'old-token-for-the-rotation-test';
const NEW = 'new-token-for-the-rotation-test';

test('registrations queued for the token check when the token changes are judged by the new token', { timeout: 30_000 }, async () => {
  const cert = tunnelCert();
  // The old token's check is the window the registrations queue in: at 4× the default scrypt cost (~0.4 s
  // here) the pool's 12th TLS handshake ends well inside it even on a loaded machine; at the default
  // (~0.1 s) a slow machine could close the window before the wait below saw 12 queued.
  const [oldHash, newHash] = await Promise.all([hashPassword(OLD, { ln: 17, r: 8, p: 1 }), hashPassword(NEW)]);
  const config = (tokenHash: string) =>
    IngressConfigSchema.parse({
      listen: { host: '127.0.0.1', ports: [0, 0] },
      tls: { cert: cert.cert, key: cert.key },
      log: { level: 'silent', access: false },
      limits: { exitProbeIntervalMs: 0 },
      reverse: { listen: { host: '127.0.0.1', port: 0 } },
      exits: [{ id: 'r1', kind: 'reverse', tokenHash, maxConnections: 1000 }],
    });
  const ing = await Ingress.start(config(oldHash), createLogger('silent'));
  const thief = startReverseExit(ing, 'r1', '127.0.0.1', { token: OLD, pool: 24, backoffMs: 5000, maxBackoffMs: 5000 });
  try {
    await eventually('the pool dialing', () => ing.runtime.reverse!.registry.stats().exits.r1 !== undefined && thief.stats().dialing === 24, { timeoutMs: 5000 });
    // Registrations queued for the token check: half the pool or more accepted, none answered yet (the pool's one
    // scrypt takes ~0.4 s from the first registration; the 12th handshake ends well before). Polled often: the
    // window closes when that check ends, and a registration answered before the reload would prove nothing.
    await eventually(
      'at least 12 connections waiting on the token check, none registered yet',
      () => {
        const s = ing.runtime.reverse!.registry.stats().exits.r1!;
        return ing.runtime.reverse!.registry.load() >= 12 && s.idle + s.busy === 0;
      },
      { timeoutMs: 5000, everyMs: 2 },
    );
    ing.reload(config(newHash), 2);
    await eventually('every queued registration answered', () => thief.stats().dialing === 0, { timeoutMs: 15_000 });
    const r1 = ing.runtime.reverse!.registry.stats().exits.r1!;
    assert.equal(r1.idle + r1.busy, 0, `${r1.idle + r1.busy} work connections registered with the old token after the rotation`);
    assert.match(thief.lastRefusal ?? '', /AUTH_FAILED: exit 'r1': unknown exit or wrong token/);
  } finally {
    await thief.stop(0);
    await ing.shutdown(0);
  }
});

/**
 * HOPGATE_TEST_SCRYPT_LN (issue 15, item 5): the scrypt cost of the hashes `hopgate up` makes itself —
 * the demo user's password, the demo exits' shared secret, the reverse exit's token — lowered for the
 * test suite, which starts `hopgate up` ~10 times and paid ~0.12 s of CPU per hash and per first check
 * at production cost (ln=15), some 20 times per start. Checks follow the cost written in each hash.
 *
 * Why this is acceptable, and only here: `hopgate up` is the one-machine demo, not a deployment
 * command (`hopgate control`, `ingress` and `exit` never read it), and these three secrets are
 * generated (72 to 144 random bits): guessing one is out of reach at any scrypt cost; the slow hash
 * protects passwords people choose. Customer passwords (the control plane's passwordCost) are left
 * alone. Only 10-14 are taken (below production, not below what parseHash accepts); anything else is
 * refused, and `hopgate up` says on stderr that it runs at a test cost. A hash made so stays in the
 * state dir (a restart keeps the demo credentials), so use it with a state dir of its own.
 */
import type { ScryptCost } from '../shared/auth/password-hash.js';

export const TEST_HASH_COST_ENV = 'HOPGATE_TEST_SCRYPT_LN';

/** The cost the variable asks for, undefined when it is unset or empty (production cost); throws on anything else. */
export function testHashCost(value: string | undefined): ScryptCost | undefined {
  if (value === undefined || value === '') return undefined;
  const ln = /^\d{1,2}$/.test(value) ? Number(value) : NaN;
  if (!(ln >= 10 && ln <= 14)) throw new Error(`${TEST_HASH_COST_ENV} must be 10 to 14 (a scrypt cost below production's 15, for tests only), not ${JSON.stringify(value)}`);
  return { ln, r: 8, p: 1 };
}

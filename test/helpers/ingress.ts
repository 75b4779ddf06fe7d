/** Start a real ingress in this process on an ephemeral port. */
import { IngressConfigSchema, type IngressConfigInput } from '../../src/shared/schema/ingress-config.js';
import { Ingress } from '../../src/ingress/ingress.js';
import { hashPassword } from '../../src/shared/auth/password-hash.js';
import { createLogger } from '../../src/shared/log.js';

export const USER = { login: 'alice', password: 'wonder-land_42' };
let aliceHash: Promise<string> | undefined;
/** Cheap scrypt parameters keep tests fast; production hashes use the default cost. */
export function aliceHashed(): Promise<string> {
  aliceHash ??= hashPassword(USER.password, { ln: 10, r: 8, p: 1 });
  return aliceHash;
}

export interface TestIngress {
  ingress: Ingress;
  port: number;
  stop(): Promise<void>;
}

export async function startTestIngress(overrides: Partial<IngressConfigInput> = {}): Promise<TestIngress> {
  const config = IngressConfigSchema.parse({
    listen: { host: '127.0.0.1', ports: [0, 0] },
    targetPolicy: { allow: ['127.0.0.0/8', '::1/128'] },
    log: { level: 'silent', access: false },
    users: [{ login: USER.login, passwordHash: await aliceHashed() }],
    ...overrides,
  });
  const ingress = await Ingress.start(config, createLogger('silent'));
  return { ingress, port: ingress.ports()[0]!, stop: () => ingress.shutdown(200) };
}

/** An ingress on `count` consecutive ports (port routing needs a known base), retried on a taken range. */
export async function startRangeIngress(count: number, overrides: Partial<IngressConfigInput> = {}): Promise<TestIngress & { base: number }> {
  for (let attempt = 0; ; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    try {
      const t = await startTestIngress({ listen: { host: '127.0.0.1', ports: [base, base + count - 1] }, ...overrides });
      return { ...t, base };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 8) throw err;
    }
  }
}

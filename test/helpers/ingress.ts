/** Start a real ingress in this process on an ephemeral port. */
import { IngressConfigSchema, type IngressConfigInput } from '../../src/shared/schema/ingress-config.js';
import { Ingress } from '../../src/ingress/ingress.js';
import { hashPassword } from '../../src/shared/auth/password-hash.js';
import { createLogger } from '../../src/shared/log.js';
import { channels, subscribeFrom, type AdmissionRejectMessage } from '../../src/shared/events.js';
import type { SessionCloseMessage } from '../../src/ingress/session.js';

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

/** What an in-process ingress has done so far with the connections from one source, by its own records. */
export interface SourceWatch {
  /** Connections it accepted and holds open. */
  open(): number;
  /** Of those, the ones whose request it has read (the protocol is known: past sniffing, at or past authentication). */
  requested(): number;
  /** Connections it accepted and has closed since the watch began. */
  readonly closed: number;
  /** Connections it refused before their first byte (admission) since the watch began. */
  readonly refused: number;
  stop(): void;
}

/**
 * Watch `source`'s connections at `ing`, so a test waits until a burst has reached the ingress
 * (open + closed + refused, or requested + closed + refused) instead of sleeping and hoping.
 */
export function watchSource(ing: TestIngress, source: string): SourceWatch {
  const rt = ing.ingress.runtime;
  const counts = { closed: 0, refused: 0 };
  const stops = [
    subscribeFrom<SessionCloseMessage>(channels.sessionClose, rt, (m) => void (m.session.source === source && counts.closed++)),
    subscribeFrom<AdmissionRejectMessage>(channels.admissionReject, rt, (m) => void (m.source === source && counts.refused++)),
  ];
  const mine = (): Array<{ protocol: unknown }> => [...rt.sessions].filter((s) => s.source === source);
  return {
    open: () => mine().length,
    requested: () => mine().filter((s) => s.protocol !== undefined).length,
    get closed() {
      return counts.closed;
    },
    get refused() {
      return counts.refused;
    },
    stop: () => stops.forEach((stop) => stop()),
  };
}

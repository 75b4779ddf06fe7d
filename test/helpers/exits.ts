/** Real hopgate exits on their own loopback addresses, in this process. */
import { Ingress } from '../../src/ingress/ingress.js';
import { hashPassword } from '../../src/shared/auth/password-hash.js';
import { EXIT_LOGIN, exitConfig } from '../../src/cli/exit.js';
import { createLogger } from '../../src/shared/log.js';

export const EXIT_SECRET = 'relay-secret-for-tests';
let secretHash: Promise<string> | undefined;

export interface TestExit {
  id: string;
  ip: string;
  port: number;
  node: Ingress;
}

export async function startTestExit(id: string, ip: string, allowFrom = ['127.0.0.1/32'], port = 0, connectTimeoutMs?: number): Promise<TestExit> {
  secretHash ??= hashPassword(EXIT_SECRET, { ln: 10, r: 8, p: 1 });
  const cfg = exitConfig({ host: ip, port, egress: ip, allowFrom, secretHash: await secretHash, allowTargets: ['127.0.0.0/8'], logLevel: 'silent', connectTimeoutMs });
  const node = await Ingress.start(cfg, createLogger('silent'));
  return { id, ip, port: node.ports()[0]!, node };
}

/** The ingress-side configuration entry for a hopgate exit. */
export function exitEntry(e: TestExit, country: string) {
  return { id: e.id, kind: 'hopgate' as const, host: e.ip, port: e.port, username: EXIT_LOGIN, password: EXIT_SECRET, egressIp: e.ip, country };
}

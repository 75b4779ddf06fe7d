/**
 * The operator token: from HOPGATE_ADMIN_TOKEN, or made once and kept in the
 * state directory (mode 0600), and compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createFileAtomic } from '../shared/state-file.js';
import { join, resolve } from 'node:path';

export const TOKEN_FILE = 'control-admin-token';

export interface AdminToken {
  readonly token: string;
  /** Where it is kept; undefined when it came from the environment. */
  readonly file: string | undefined;
  readonly source: 'env' | 'file' | 'generated';
}

export function generateToken(): string {
  return `hgop_${randomBytes(32).toString('base64url')}`;
}

export function loadOrCreateAdminToken(stateDir: string, fromEnv: string | undefined): AdminToken {
  if (fromEnv !== undefined && fromEnv !== '') {
    if (fromEnv.length < 16) throw new Error('HOPGATE_ADMIN_TOKEN must be at least 16 characters');
    return { token: fromEnv, file: undefined, source: 'env' };
  }
  const file = resolve(join(stateDir, TOKEN_FILE));
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token.length < 16) throw new Error(`${file}: the operator token is too short; delete the file to make a new one`);
    return { token, file, source: 'file' };
  }
  const token = generateToken();
  // Atomic and exclusive: a crash never leaves a half-written token, and of two processes starting at once one token wins.
  if (!createFileAtomic(file, token + '\n')) return loadOrCreateAdminToken(stateDir, fromEnv);
  return { token, file, source: 'generated' };
}

/** Constant-time comparison (hashing first makes the lengths equal). */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** An ingress token: names no node (the control plane finds the node by the token's hash). */
export function generateIngressToken(): string {
  return `hging_${randomBytes(32).toString('base64url')}`;
}

/** What is stored of an ingress token: 256 random bits need no slow hash. */
export function hashIngressToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A reverse exit's token (`hopgate exit --connect-to … --token-file F`); stored only as its scrypt hash, which the ingresses check. */
export function generateExitToken(): string {
  return `hgex_${randomBytes(24).toString('base64url')}`;
}

/** A hopgate exit's link token: reads the ingresses' link pins (GET /v1/link-pins); stored as its sha256, like an ingress token. */
export function generateExitLinkToken(): string {
  return `hgel_${randomBytes(32).toString('base64url')}`;
}

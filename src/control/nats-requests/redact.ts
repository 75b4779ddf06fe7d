/**
 * What of an answer is kept for replays: fields the REST API shows once (a
 * generated password, exit or ingress token, webhook secret) are left out of
 * the database, so the key table never holds a credential in the clear; a
 * replay names them in `redacted` (rotate to get a new one).
 */
import type { AnswerT } from './schemas.js';

const SHOWN_ONCE = new Set(['password', 'token', 'secret']);

export function storedAnswer(a: AnswerT): { stored: AnswerT; redacted: string[] } {
  const redacted: string[] = [];
  const walk = (v: unknown, path: string): unknown => {
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}.${i}`));
    if (v === null || typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (SHOWN_ONCE.has(k) && typeof x === 'string') redacted.push(`${path}.${k}`);
      else out[k] = walk(x, `${path}.${k}`);
    }
    return out;
  };
  return { stored: { ...a, body: walk(a.body, 'body') }, redacted };
}

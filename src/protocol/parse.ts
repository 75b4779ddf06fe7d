import type { ErrorCode } from '../shared/errors.js';

/**
 * Result of feeding bytes to a pure codec: not enough bytes yet, a value and
 * how many bytes it used, or a protocol error carrying the code to answer with.
 */
export type Parse<T> =
  | { readonly kind: 'more' }
  | { readonly kind: 'ok'; readonly value: T; readonly consumed: number }
  | { readonly kind: 'error'; readonly code: ErrorCode; readonly message: string };

export const MORE: { readonly kind: 'more' } = Object.freeze({ kind: 'more' });

export function ok<T>(value: T, consumed: number): Parse<T> {
  return { kind: 'ok', value, consumed };
}

export function fail<T = never>(code: ErrorCode, message: string): Parse<T> {
  return { kind: 'error', code, message };
}

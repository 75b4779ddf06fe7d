/**
 * Webhook signatures: HMAC-SHA256 over `<timestamp>.<body>` with the
 * webhook's secret, sent as `X-Hopgate-Signature: sha256=<hex>` beside
 * `X-Hopgate-Timestamp` (unix seconds). Signing the timestamp lets a
 * receiver refuse replays older than its tolerance.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export function signatureOf(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The receiver's check (also what the docs show): right signature, timestamp within `toleranceS` of now. */
export function verifySignature(secret: string, header: string | undefined, timestamp: string | undefined, body: string, toleranceS = 300, nowMs = Date.now()): boolean {
  if (!header || !timestamp || !/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceS) return false;
  const expected = Buffer.from(signatureOf(secret, Number(timestamp), body));
  const got = Buffer.from(header);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

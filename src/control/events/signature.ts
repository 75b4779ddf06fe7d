/**
 * Webhook signatures: HMAC-SHA256 over `<timestamp>.<body>` with the
 * webhook's secret, sent as `X-Hopgate-Signature: sha256=<hex>` beside
 * `X-Hopgate-Timestamp` (unix seconds). Signing the timestamp lets a
 * receiver refuse replays older than its tolerance (docs/CONTROL.md shows the check).
 */
import { createHmac } from 'node:crypto';

export function signatureOf(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

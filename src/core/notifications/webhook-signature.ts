/**
 * The `Countersign-Signature` header of webhook deliveries: `v1=<hex HMAC-SHA256>` over
 * `"<timestamp>.<body>"`, keyed with the webhook secret's UTF-8 bytes. Binding the timestamp
 * lets a receiver reject replays of an old delivery; binding the exact body bytes means a
 * receiver must verify before it parses (docs/approvals.md, "Webhooks").
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The scheme prefix of the signature header; a new scheme gets a new prefix. */
export const WEBHOOK_SIGNATURE_SCHEME = 'v1';

/** How far a receiver should accept a timestamp from its own clock, by default (5 minutes). */
export const WEBHOOK_DEFAULT_TOLERANCE_SECONDS = 300;

/**
 * The header value for `body` sent at `timestampSeconds` (Unix seconds).
 *
 * @example
 * signWebhookPayload('whsec_…', 1735689600, '{"id":"dl_…"}') // 'v1=5d41…'
 */
export function signWebhookPayload(secret: string, timestampSeconds: number, body: string): string {
  return `${WEBHOOK_SIGNATURE_SCHEME}=${webhookHmacHex(secret, timestampSeconds, body)}`;
}

/**
 * Whether `signatureHeader` (attacker-controlled) is a valid signature of `body` at
 * `timestampHeader` (attacker-controlled) that is within `toleranceSeconds` of `nowSeconds`.
 * Compares in constant time. Several comma-separated `v1=` values are accepted, so a sender may
 * sign with an old and a new secret during a rotation.
 */
export function verifyWebhookSignature(input: {
  readonly secret: string;
  readonly body: string;
  readonly timestampHeader: string;
  readonly signatureHeader: string;
  readonly nowSeconds: number;
  readonly toleranceSeconds?: number;
}): boolean {
  if (!/^\d{1,15}$/.test(input.timestampHeader)) return false;
  const timestamp = Number(input.timestampHeader);
  const tolerance = input.toleranceSeconds ?? WEBHOOK_DEFAULT_TOLERANCE_SECONDS;
  if (Math.abs(input.nowSeconds - timestamp) > tolerance) return false;
  const expected = Buffer.from(webhookHmacHex(input.secret, timestamp, input.body), 'utf8');
  let isValid = false;
  for (const part of input.signatureHeader.split(',')) {
    const [scheme, value] = part.trim().split('=', 2);
    if (scheme !== WEBHOOK_SIGNATURE_SCHEME || value === undefined) continue;
    const presented = Buffer.from(value, 'utf8');
    // Lengths differ only for malformed input; the compare itself runs in constant time.
    if (presented.length === expected.length && timingSafeEqual(presented, expected)) {
      isValid = true;
    }
  }
  return isValid;
}

function webhookHmacHex(secret: string, timestampSeconds: number, body: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(`${String(timestampSeconds)}.${body}`, 'utf8')
    .digest('hex');
}

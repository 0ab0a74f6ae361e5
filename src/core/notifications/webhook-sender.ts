/**
 * The port through which the webhook worker (`src/app/webhooks.ts`) POSTs deliveries; the adapter
 * (`src/adapters/notifications/fetch-webhook-sender.ts`) does the I/O.
 */

/** One POST of a delivery, as the sender makes it. */
export interface WebhookRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly timeoutMs: number;
}

/** What a receiver answered. */
export interface WebhookResponse {
  readonly status: number;
  /** The start of the response body (the sender reads no more than a few hundred bytes). */
  readonly bodyExcerpt: string;
}

/**
 * Sends one POST. Must not follow redirects (a 3xx is an answer). Throws UPSTREAM_UNAVAILABLE for
 * a network error or a timeout, with a message naming which and no secret.
 */
export interface WebhookSender {
  send(request: WebhookRequest): Promise<WebhookResponse>;
}

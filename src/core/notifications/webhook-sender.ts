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

/**
 * What a receiver answered: its status only. The body is never read or kept: shown back as a
 * delivery's error, it would let whoever registers a webhook read what internal addresses answer.
 */
export interface WebhookResponse {
  readonly status: number;
}

/**
 * Sends one POST. Must not follow redirects (a 3xx is an answer). Throws UPSTREAM_UNAVAILABLE for
 * a network error or a timeout, with a message naming which and no secret.
 */
export interface WebhookSender {
  send(request: WebhookRequest): Promise<WebhookResponse>;
}

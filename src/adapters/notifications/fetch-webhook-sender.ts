/**
 * `WebhookSender` over the platform `fetch`: one POST, redirects never followed (a 3xx is an
 * answer, and following it could take a signed body to a host nobody registered), a hard
 * timeout, and the response body discarded unread (only the status counts).
 */
import { AppError } from '../../core/errors.ts';
import type {
  WebhookRequest,
  WebhookResponse,
  WebhookSender,
} from '../../core/notifications/webhook-sender.ts';

/** The sender the service uses. */
export function createFetchWebhookSender(): WebhookSender {
  return {
    async send(request: WebhookRequest): Promise<WebhookResponse> {
      let response: Response;
      try {
        response = await fetch(request.url, {
          method: 'POST',
          headers: request.headers,
          body: request.body,
          redirect: 'manual',
          signal: AbortSignal.timeout(request.timeoutMs),
        });
      } catch (error) {
        throw new AppError('UPSTREAM_UNAVAILABLE', describeFetchError(error, request.timeoutMs), {
          cause: error,
        });
      }
      await response.body?.cancel().catch(() => undefined);
      return { status: response.status };
    },
  };
}

/** Words for a failed fetch; undici hides the reason in `cause`. */
function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no answer within ${String(timeoutMs / 1000)} s`;
  }
  const cause =
    error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  return code === undefined ? 'the request failed' : `the request failed (${code})`;
}

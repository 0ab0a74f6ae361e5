/**
 * `WebhookSender` over the platform `fetch`: one POST, redirects never followed (a 3xx is an
 * answer, and following it could take a signed body to a host nobody registered), a hard
 * timeout, and at most `BODY_EXCERPT_BYTES` of the response read.
 */
import { AppError } from '../../core/errors.ts';
import type {
  WebhookRequest,
  WebhookResponse,
  WebhookSender,
} from '../../core/notifications/webhook-sender.ts';

/** Bytes of a response body kept for `lastError`; the rest is discarded unread. */
const BODY_EXCERPT_BYTES = 512;

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
      return { status: response.status, bodyExcerpt: await readExcerpt(response) };
    },
  };
}

async function readExcerpt(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    while (length < BODY_EXCERPT_BYTES) {
      const { done, value } = (await reader.read()) as {
        done: boolean;
        value?: Uint8Array;
      };
      if (done || value === undefined) break;
      chunks.push(value);
      length += value.length;
    }
  } catch {
    // A body cut off mid-way still leaves the status, which is what counts.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(
    Buffer.concat(chunks).subarray(0, BODY_EXCERPT_BYTES),
  );
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

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAppError } from '../core/errors.ts';
import { computeRetryDelayMs, parseWebhookEvents, parseWebhookUrl } from './webhooks.ts';

describe('computeRetryDelayMs', () => {
  const policy = { baseDelayMs: 10_000, maxDelayMs: 3_600_000 };

  it('doubles per failed attempt up to the cap, with half of each delay jittered', () => {
    // Naive reference: the ceiling by repeated doubling.
    let ceiling = policy.baseDelayMs;
    for (let failed = 1; failed <= 40; failed += 1) {
      for (const fraction of [0, 0.25, 0.5, 0.999_999]) {
        const delay = computeRetryDelayMs(failed, policy, fraction);
        assert.ok(delay >= Math.floor(ceiling / 2) && delay <= ceiling, `${failed} ${fraction}`);
      }
      assert.equal(computeRetryDelayMs(failed, policy, 0), Math.round(ceiling / 2));
      ceiling = Math.min(policy.maxDelayMs, ceiling * 2);
    }
  });
});

describe('parseWebhookUrl', () => {
  it('accepts https: anywhere and plain http: to loopback only', () => {
    assert.equal(parseWebhookUrl('https://hooks.example/a?b=c'), 'https://hooks.example/a?b=c');
    // Internal receivers (private ranges) stay allowed over https.
    assert.equal(parseWebhookUrl('https://10.0.0.1/hook'), 'https://10.0.0.1/hook');
    for (const url of ['http://127.0.0.1:9/x', 'http://localhost/x', 'http://[::1]:8/x']) {
      assert.equal(parseWebhookUrl(url), url);
    }
  });

  it('throws INVALID_INPUT for other schemes, hosts, credentials and fragments', () => {
    for (const url of [
      'http://10.0.0.1/x',
      'http://127.0.0.1.nip.io/x',
      'file:///etc/passwd',
      'https://a:b@hooks.example/',
      'https://hooks.example/#x',
      // Cloud metadata: link-local literals in any spelling URL parsing normalises.
      'https://169.254.169.254/latest/meta-data/',
      'https://0xA9FEA9FE/',
      'https://[fe80::1]/',
      'https://[::ffff:169.254.169.254]/',
      'https://[fd00:ec2::254]/',
      '',
      `https://hooks.example/${'a'.repeat(2100)}`,
    ]) {
      assert.throws(
        () => parseWebhookUrl(url),
        (error: unknown) => isAppError(error, 'INVALID_INPUT'),
        url,
      );
    }
  });
});

describe('parseWebhookEvents', () => {
  it('deduplicates and orders the events', () => {
    assert.deepEqual(parseWebhookEvents(['exception.used', 'request.created', 'exception.used']), [
      'request.created',
      'exception.used',
    ]);
  });

  it('throws INVALID_INPUT for none or an unknown one, pointing at it', () => {
    assert.throws(
      () => parseWebhookEvents([]),
      (error: unknown) => isAppError(error, 'INVALID_INPUT'),
    );
    assert.throws(
      () => parseWebhookEvents(['request.created', 'exception.uesd']),
      (error: unknown) =>
        isAppError(error, 'INVALID_INPUT') &&
        error.errors[0]?.path === '/events/1' &&
        /did you mean exception.used/.test(error.message),
    );
  });
});

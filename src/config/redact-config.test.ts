import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from './load-config.ts';
import { redactConfig, redactUrl } from './redact-config.ts';

describe('redactUrl', () => {
  it('hides the password and secret query parameters', () => {
    assert.equal(
      redactUrl('postgres://app:s3cr%21t@db:5432/cs?sslmode=require&password=other'),
      'postgres://app:***@db:5432/cs?sslmode=require&password=***',
    );
  });

  it('replaces a value that is not a URL entirely', () => {
    assert.equal(redactUrl('app:s3cret@db'), '***');
  });

  it('leaves a URL without secrets as it is', () => {
    assert.equal(redactUrl('postgres://db:5432/cs'), 'postgres://db:5432/cs');
  });
});

describe('redactConfig', () => {
  it('hides the database password and nothing else', () => {
    const config = loadConfig({
      env: { COUNTERSIGN_DATABASE_URL: 'postgres://app:hunter2@db/cs' },
      cwd: '/srv',
    });
    const redacted = redactConfig(config);
    assert.doesNotMatch(JSON.stringify(redacted), /hunter2/);
    assert.equal(redacted.storage.url, 'postgres://app:***@db/cs');
    assert.deepEqual({ ...redacted, storage: config.storage }, config);
  });
});

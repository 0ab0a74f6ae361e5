import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTimestampAuthority } from '../../src/app/issue-timestamp.ts';
import { createRootCaCertificate } from '../../src/core/x509/create-root-ca-certificate.ts';
import { createTsaCertificate } from '../../src/core/x509/create-tsa-certificate.ts';
import { createTimestampRoutes } from '../../src/http/routes/timestamp.ts';
import { jsonOf, startTestServer, type TestServer } from '../http/fixture.ts';
import {
  createTempDir,
  createTestKey,
  fixedClock,
  openssl,
  testRandom,
  unixSeconds,
  writePemFile,
} from './support.ts';

const START = new Date('2026-01-01T00:00:00Z');
const NOW = new Date('2026-01-15T10:00:00.400Z');

describe('POST /v1/timestamp', () => {
  let server: TestServer;
  let dir: string;
  let remove: () => Promise<void>;
  let query: Buffer;

  before(async () => {
    ({ dir, remove } = await createTempDir());
    const rootKey = createTestKey('root-ca');
    const tsaKey = createTestKey('tsa');
    const root = await createRootCaCertificate({
      key: rootKey,
      subject: { organization: 'Acme', commonName: 'Acme Root' },
      notBefore: START,
      notAfter: new Date('2036-01-01T00:00:00Z'),
      random: testRandom,
    });
    const tsaCertificate = await createTsaCertificate({
      issuerKey: rootKey,
      issuerCertificate: root,
      subjectPublicKeySpki: tsaKey.publicKeySpki,
      notBefore: START,
      notAfter: new Date('2028-01-01T00:00:00Z'),
      random: testRandom,
    });
    const authority = createTimestampAuthority({
      tsaKey,
      tsaCertificate,
      chain: [root],
      clock: fixedClock(NOW),
      random: testRandom,
    });
    server = await startTestServer({ routes: [createTimestampRoutes(authority)] });
    await writePemFile(join(dir, 'root.pem'), root);
    await writeFile(join(dir, 'sig.bin'), 'signature bytes');
    const made = await openssl(
      ['ts', '-query', '-data', 'sig.bin', '-sha256', '-cert', '-out', 'req.tsq'],
      dir,
    );
    assert.equal(made.code, 0, made.stderr);
    query = await readFile(join(dir, 'req.tsq'));
  });
  after(async () => {
    await server.close();
    await remove();
  });

  function post(payload: Buffer | string, contentType: string) {
    return server.service.server.inject({
      method: 'POST',
      url: '/v1/timestamp',
      headers: { 'content-type': contentType },
      payload,
    });
  }

  it('answers a query with application/timestamp-reply that openssl verifies', async () => {
    const response = await post(query, 'application/timestamp-query');
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], 'application/timestamp-reply');
    assert.equal(response.headers['cache-control'], 'no-store');
    await writeFile(join(dir, 'resp.tsr'), response.rawPayload);
    const verified = await openssl(
      [
        'ts',
        '-verify',
        '-in',
        'resp.tsr',
        '-queryfile',
        'req.tsq',
        '-CAfile',
        'root.pem',
        '-attime',
        unixSeconds(NOW),
      ],
      dir,
    );
    assert.match(verified.stdout, /Verification: OK/, verified.stderr);
  });

  it('answers a malformed query with 400 and an RFC 3161 rejection', async () => {
    const response = await post(
      Buffer.concat([query, Buffer.of(0)]),
      'application/timestamp-query',
    );
    assert.equal(response.statusCode, 400);
    assert.equal(response.headers['content-type'], 'application/timestamp-reply');
    await writeFile(join(dir, 'rejected.tsr'), response.rawPayload);
    const text = await openssl(['ts', '-reply', '-in', 'rejected.tsr', '-text'], dir);
    assert.match(text.stdout, /Status: Rejected/);
    assert.match(text.stdout, /the data submitted has the wrong format/);
  });

  it('refuses other media types with 415 problem+json', async () => {
    const response = await post('{}', 'application/json');
    assert.equal(response.statusCode, 415);
    assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
    assert.equal(jsonOf(response)['code'], 'INVALID_INPUT');
    assert.match(String(jsonOf(response)['detail']), /application\/timestamp-query/);
  });

  it('refuses bodies over 16 KiB with 413 problem+json', async () => {
    const response = await post(Buffer.alloc(17 * 1024), 'application/timestamp-query');
    assert.equal(response.statusCode, 413);
    assert.equal(jsonOf(response)['code'], 'INVALID_INPUT');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../errors.ts';
import {
  DEFAULT_CLOCK_LEEWAY_SECONDS,
  isLoopbackHost,
  MAX_TOKEN_BYTES,
  validateIssuerConfig,
} from './issuer.ts';

const GITHUB = {
  name: 'github',
  type: 'github-actions',
  issuer: 'https://token.actions.githubusercontent.com',
  jwksUrl: 'https://token.actions.githubusercontent.com/.well-known/jwks',
  audiences: ['countersign'],
  algorithms: ['RS256'],
};

/** The FieldErrors of a CONFIG_INVALID failure, as `path: message` lines. */
function problemsOf(input: unknown, path?: string): string[] {
  try {
    validateIssuerConfig(input, path);
  } catch (error) {
    assert.ok(error instanceof AppError);
    assert.equal(error.code, 'CONFIG_INVALID');
    return error.errors.map((e) => `${e.path}: ${e.message}`);
  }
  assert.fail('expected CONFIG_INVALID');
}

describe('validateIssuerConfig', () => {
  describe('with a complete GitHub Actions entry', () => {
    it('fills in defaults and freezes the result', () => {
      const config = validateIssuerConfig(GITHUB);
      assert.equal(config.maxTokenBytes, MAX_TOKEN_BYTES);
      assert.equal(config.clockLeewaySeconds, DEFAULT_CLOCK_LEEWAY_SECONDS);
      assert.equal(config.allowInsecureLoopback, false);
      assert.deepEqual(config.algorithms, ['RS256']);
      assert.ok(Object.isFrozen(config) && Object.isFrozen(config.audiences));
    });

    it('keeps the issuer string exactly as written', () => {
      const config = validateIssuerConfig({ ...GITHUB, issuer: 'https://Token.Example.com/' });
      assert.equal(config.issuer, 'https://Token.Example.com/');
    });
  });

  describe('when several settings are wrong', () => {
    it('reports every problem at once, under the given path', () => {
      const problems = problemsOf(
        { ...GITHUB, type: 'jenkins', audiences: [], clockLeewaySeconds: 120, extra: 1 },
        'issuers[2]',
      );
      assert.deepEqual(
        problems.map((p) => p.split(':')[0]),
        [
          'issuers[2].extra',
          'issuers[2].type',
          'issuers[2].audiences',
          'issuers[2].clockLeewaySeconds',
        ],
      );
    });

    it('reports a non-object entry', () => {
      assert.deepEqual(problemsOf('github', 'issuers[0]'), ['issuers[0]: must be an object']);
    });
  });

  describe('algorithms', () => {
    for (const algorithm of ['HS256', 'HS512', 'none', 'RSA-OAEP']) {
      it(`refuses ${algorithm}`, () => {
        const [problem] = problemsOf({ ...GITHUB, algorithms: ['RS256', algorithm] });
        assert.match(problem ?? '', /^algorithms\[1\]: .* is not allowed: only asymmetric/);
      });
    }

    it('requires at least one algorithm', () => {
      assert.match(problemsOf({ ...GITHUB, algorithms: [] })[0] ?? '', /^algorithms:/);
    });

    it('accepts every asymmetric algorithm', () => {
      const algorithms = [
        'RS256',
        'RS384',
        'RS512',
        'PS256',
        'PS384',
        'PS512',
        'ES256',
        'ES384',
        'ES512',
        'EdDSA',
      ];
      assert.deepEqual(validateIssuerConfig({ ...GITHUB, algorithms }).algorithms, algorithms);
    });
  });

  describe('jwksUrl', () => {
    it('refuses plain http on a public host', () => {
      assert.match(
        problemsOf({ ...GITHUB, jwksUrl: 'http://token.example.com/jwks' })[0] ?? '',
        /^jwksUrl: must be an https:\/\/ URL/,
      );
    });

    it('refuses plain http on a public host even with allowInsecureLoopback', () => {
      const problems = problemsOf({
        ...GITHUB,
        jwksUrl: 'http://token.example.com/jwks',
        allowInsecureLoopback: true,
      });
      assert.match(problems[0] ?? '', /^jwksUrl: must be an https:\/\/ URL/);
    });

    it('refuses a loopback URL unless allowInsecureLoopback is set', () => {
      assert.match(
        problemsOf({ ...GITHUB, jwksUrl: 'http://127.0.0.1:8080/jwks' })[0] ?? '',
        /allowed only with allowInsecureLoopback/,
      );
    });

    for (const url of [
      'http://127.0.0.1:8080/jwks',
      'http://127.9.9.9/jwks',
      'http://[::1]:9/jwks',
      'http://localhost/jwks',
    ]) {
      it(`accepts ${url} with allowInsecureLoopback`, () => {
        const config = validateIssuerConfig({
          ...GITHUB,
          jwksUrl: url,
          allowInsecureLoopback: true,
        });
        assert.equal(config.jwksUrl, url);
      });
    }

    for (const url of [
      'https://169.254.169.254/latest',
      'https://[fe80::1]/jwks',
      'https://0.0.0.0/jwks',
    ]) {
      it(`refuses the link-local or unspecified address in ${url}`, () => {
        assert.match(problemsOf({ ...GITHUB, jwksUrl: url })[0] ?? '', /link-local or unspecified/);
      });
    }

    for (const url of [
      'file:///etc/passwd',
      'ftp://x/jwks',
      'not a url',
      'https://user:pw@x.example/jwks',
      'https://x.example/jwks#k',
    ]) {
      it(`refuses ${url}`, () => {
        assert.match(problemsOf({ ...GITHUB, jwksUrl: url })[0] ?? '', /^jwksUrl: /);
      });
    }
  });

  describe('issuer', () => {
    for (const issuer of [
      'https://x.example/?a=1',
      'https://x.example/#f',
      ' https://x.example',
      'http://x.example',
    ]) {
      it(`refuses ${JSON.stringify(issuer)}`, () => {
        assert.match(problemsOf({ ...GITHUB, issuer })[0] ?? '', /^issuer: /);
      });
    }
  });

  describe('limits', () => {
    it('caps maxTokenBytes at 16 KiB', () => {
      assert.match(problemsOf({ ...GITHUB, maxTokenBytes: 65_536 })[0] ?? '', /^maxTokenBytes: /);
      assert.equal(validateIssuerConfig({ ...GITHUB, maxTokenBytes: 4096 }).maxTokenBytes, 4096);
    });

    it('caps the clock leeway at 60 seconds', () => {
      assert.match(
        problemsOf({ ...GITHUB, clockLeewaySeconds: 61 })[0] ?? '',
        /^clockLeewaySeconds: /,
      );
      assert.equal(
        validateIssuerConfig({ ...GITHUB, clockLeewaySeconds: 60 }).clockLeewaySeconds,
        60,
      );
    });

    it('refuses duplicate and oversized audiences', () => {
      const problems = problemsOf({ ...GITHUB, audiences: ['a', 'a', 'x'.repeat(300)] });
      assert.deepEqual(problems, [
        'audiences[1]: is listed twice',
        'audiences[2]: must be at most 256 characters',
      ]);
    });
  });
});

describe('isLoopbackHost', () => {
  it('recognises 127.0.0.0/8, ::1 and localhost', () => {
    for (const host of ['127.0.0.1', '127.255.0.7', '::1', '[::1]', 'localhost']) {
      assert.equal(isLoopbackHost(host), true, host);
    }
  });

  it('does not mistake look-alikes for loopback', () => {
    for (const host of [
      '127.0.0.256',
      '128.0.0.1',
      'localhost.example.com',
      '127.0.0.1.nip.io',
      '0.0.0.0',
      '::',
    ]) {
      assert.equal(isLoopbackHost(host), false, host);
    }
  });
});

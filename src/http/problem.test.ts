import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppError, ERROR_CODES } from '../core/errors.ts';
import { classifyError, PROBLEM_TABLE, problemTypeUri, renderProblem } from './problem.ts';

describe('PROBLEM_TABLE', () => {
  it('gives every error code an HTTP status and a title', () => {
    for (const code of ERROR_CODES) {
      const row = PROBLEM_TABLE[code];
      assert.ok(Number.isInteger(row.status) && row.status >= 200 && row.status < 600, code);
      assert.ok(row.title.length > 0, code);
    }
    assert.deepEqual(Object.keys(PROBLEM_TABLE).sort(), [...ERROR_CODES].sort());
  });

  it('maps bad input to 4xx and unavailability to 503', () => {
    assert.equal(PROBLEM_TABLE.INVALID_INPUT.status, 400);
    assert.equal(PROBLEM_TABLE.UNAUTHENTICATED.status, 401);
    assert.equal(PROBLEM_TABLE.FORBIDDEN.status, 403);
    assert.equal(PROBLEM_TABLE.NOT_FOUND.status, 404);
    assert.equal(PROBLEM_TABLE.CONFLICT.status, 409);
    assert.equal(PROBLEM_TABLE.RATE_LIMITED.status, 429);
    assert.equal(PROBLEM_TABLE.STORAGE_UNAVAILABLE.status, 503);
    assert.equal(PROBLEM_TABLE.INTERNAL.status, 500);
  });
});

describe('problemTypeUri', () => {
  it('is the kebab-case code under countersign.dev/problems', () => {
    assert.equal(
      problemTypeUri('STORAGE_UNAVAILABLE'),
      'https://countersign.dev/problems/storage-unavailable',
    );
  });
});

describe('renderProblem', () => {
  describe('for a client error', () => {
    it('shows the message, field errors and hint', () => {
      const error = new AppError('INVALID_INPUT', 'name is too long', {
        errors: [{ path: '/name', message: 'too long' }],
        hint: 'shorten it',
      });
      const { status, headers, body } = renderProblem(error, 'req-1');
      assert.equal(status, 400);
      assert.equal(headers['content-type'], 'application/problem+json');
      assert.deepEqual(body, {
        type: 'https://countersign.dev/problems/invalid-input',
        title: 'Invalid input',
        status: 400,
        detail: 'name is too long',
        code: 'INVALID_INPUT',
        requestId: 'req-1',
        errors: [{ path: '/name', message: 'too long' }],
        hint: 'shorten it',
      });
    });
  });

  describe('for INTERNAL', () => {
    it('shows neither the message nor the hint', () => {
      const { status, body } = renderProblem(
        new AppError('INTERNAL', 'table api_tokens is corrupt', { hint: 'restore /var/db' }),
        'req-2',
      );
      assert.equal(status, 500);
      assert.doesNotMatch(JSON.stringify(body), /api_tokens|var\/db/);
    });
  });

  describe('for UNAUTHENTICATED', () => {
    it('asks for a bearer token', () => {
      const { headers } = renderProblem(new AppError('UNAUTHENTICATED', 'no'), 'r');
      assert.equal(headers['www-authenticate'], 'Bearer realm="countersign"');
    });
  });
});

describe('classifyError', () => {
  describe('given a plain Error', () => {
    it('returns INTERNAL, keeping the error as cause', () => {
      const thrown = new Error('boom');
      const { error } = classifyError(thrown);
      assert.equal(error.code, 'INTERNAL');
      assert.equal(error.cause, thrown);
    });
  });

  describe("given the JSON parser's SyntaxError", () => {
    it('returns INVALID_INPUT with status 400', () => {
      const thrown = Object.assign(new SyntaxError('Unexpected token'), { statusCode: 400 });
      const { error, overrides } = classifyError(thrown);
      assert.equal(error.code, 'INVALID_INPUT');
      assert.equal(overrides.status ?? 400, 400);
    });
  });

  describe('given an unrecognised error with a 5xx status', () => {
    it('returns INTERNAL', () => {
      const thrown = Object.assign(new Error('upstream'), { statusCode: 502 });
      assert.equal(classifyError(thrown).error.code, 'INTERNAL');
    });
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { AppError, type ErrorCode } from '../../../core/errors.ts';
import { isConnectionBroken, mapPostgresError } from './map-postgres-error.ts';

function serverError(sqlState: string): Error {
  const error = new pg.DatabaseError('server said no', 0, 'error');
  error.code = sqlState;
  error.severity = 'ERROR';
  return error;
}

function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code });
}

describe('mapPostgresError', () => {
  const cases: [string, Error, ErrorCode, boolean][] = [
    ['a unique violation', serverError('23505'), 'CONFLICT', false],
    ['a serialization failure', serverError('40001'), 'CONFLICT', false],
    ['a deadlock', serverError('40P01'), 'CONFLICT', false],
    ['a statement timeout', serverError('57014'), 'STORAGE_UNAVAILABLE', true],
    ['an admin shutdown', serverError('57P01'), 'STORAGE_UNAVAILABLE', true],
    ['a full disk', serverError('53100'), 'STORAGE_UNAVAILABLE', true],
    ['an I/O error', serverError('58030'), 'STORAGE_UNAVAILABLE', true],
    ['a connection failure', serverError('08006'), 'STORAGE_UNAVAILABLE', true],
    ['a rejected password', serverError('28P01'), 'CONFIG_INVALID', false],
    ['a syntax error', serverError('42601'), 'INTERNAL', false],
    ['a refused connection', socketError('ECONNREFUSED'), 'STORAGE_UNAVAILABLE', true],
    ['a reset connection', socketError('ECONNRESET'), 'STORAGE_UNAVAILABLE', true],
    [
      'a lost connection',
      new Error('Connection terminated unexpectedly'),
      'STORAGE_UNAVAILABLE',
      true,
    ],
    ['a client read timeout', new Error('Query read timeout'), 'STORAGE_UNAVAILABLE', true],
    ['a bug in our code', new TypeError('x is not a function'), 'INTERNAL', false],
  ];
  for (const [what, error, code, hasRetry] of cases) {
    it(`maps ${what} to ${code}, keeping the cause`, () => {
      const mapped = mapPostgresError(error);
      assert.equal(mapped.code, code);
      assert.equal(mapped.cause, error);
      assert.equal(mapped.retryAfterSeconds !== undefined, hasRetry);
    });
  }

  it('passes an AppError through unchanged', () => {
    const error = new AppError('CONFLICT', 'already');
    assert.equal(mapPostgresError(error), error);
  });
});

describe('isConnectionBroken', () => {
  it('keeps a connection after an SQL error and drops it after a socket or session error', () => {
    assert.equal(isConnectionBroken(serverError('23505')), false);
    assert.equal(isConnectionBroken(serverError('57014')), false);
    assert.equal(isConnectionBroken(serverError('57P01')), true);
    assert.equal(isConnectionBroken(serverError('08006')), true);
    assert.equal(isConnectionBroken(new Error('Query read timeout')), true);
  });
});

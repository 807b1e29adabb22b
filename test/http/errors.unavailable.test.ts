import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isCannotWriteError, isUnavailableError } from '../../src/http/errors.js';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

it('treats lost, refused and refused-for-now database connections as unavailable', () => {
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08006', '08001', '53300', '57014', 'SQLITE_BUSY', 'SQLITE_BUSY_RECOVERY', 'SQLITE_BUSY_TIMEOUT']) {
    assert.equal(isUnavailableError(withCode(code)), true, code);
  }
  assert.equal(isUnavailableError(new Error('Connection terminated unexpectedly')), true);
  assert.equal(isUnavailableError(new Error('timeout exceeded when trying to connect')), true);
  // Node reports a refused dual-stack connect as an AggregateError of the attempts.
  assert.equal(isUnavailableError(Object.assign(new AggregateError([withCode('ECONNREFUSED')], ''), { code: undefined })), true);
  assert.equal(isUnavailableError(new Error('query failed', { cause: withCode('57P01') })), true);
  // A session PostgreSQL refuses at its start (a database not accepting connections) or ends.
  assert.equal(isUnavailableError(Object.assign(withCode('55000', 'database "x" is not currently accepting connections'), { severity: 'FATAL' })), true);
  assert.equal(isUnavailableError(Object.assign(withCode('57P04', 'database dropped'), { severity: 'FATAL' })), true);
});

it('leaves every other failure alone (a bug is a 500, a conflict a 409)', () => {
  const inPrerequisiteState = Object.assign(withCode('55000', 'object not in prerequisite state'), { severity: 'ERROR' });
  for (const err of [withCode('23505', 'duplicate key'), withCode('42P01', 'relation does not exist'), withCode('22P02'), inPrerequisiteState, new TypeError('x is undefined'), new SyntaxError('bad'), 'a string', null]) {
    assert.equal(isUnavailableError(err), false, String(err));
  }
});

it('tells a database that cannot write (full, failing, read-only) from one out of reach', () => {
  for (const code of ['SQLITE_FULL', 'SQLITE_IOERR_WRITE', 'SQLITE_IOERR', 'SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED', '25006', '53100', '58030']) {
    assert.equal(isCannotWriteError(withCode(code)), true, code);
    assert.equal(isUnavailableError(withCode(code)), false, code);
  }
  assert.equal(isCannotWriteError(new Error('query failed', { cause: withCode('SQLITE_FULL') })), true);
  for (const err of [withCode('SQLITE_BUSY'), withCode('SQLITE_CONSTRAINT_UNIQUE'), withCode('23505'), withCode('ECONNREFUSED'), new TypeError('x'), null]) {
    assert.equal(isCannotWriteError(err), false, String(err));
  }
});

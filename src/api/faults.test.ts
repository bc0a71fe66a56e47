/**
 * toFault() and storage failures: SQLite's and the file system's refusals become 503 with a
 * path-free message, never a 500 with the raw text.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { storageFailure, toFault } from './faults.js';

const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-faults-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A real SqliteError: a write on a database opened read-only (SQLITE_READONLY). */
function readOnlyWriteError(): unknown {
  const file = path.join(dir, 'ro.db');
  const setup = new Database(file);
  setup.exec('create table t (x integer)');
  setup.close();
  const db = new Database(file, { readonly: true });
  try {
    db.exec('insert into t values (1)');
  } catch (error) {
    return error;
  } finally {
    db.close();
  }
  return assert.fail('the write was not refused');
}

/** An error shaped as Node's system errors are (code, errno, syscall), with a host path. */
function systemError(code: string): Error {
  return Object.assign(new Error(`${code}: refused, write '/var/lib/vpmu/images/x.partial'`), {
    code,
    errno: -28,
    syscall: 'write',
  });
}

describe('toFault() for storage failures', () => {
  it('answers a refused SQLite write 503 serviceUnavailable, with no SQLite text', () => {
    const error = readOnlyWriteError();
    assert.equal((error as { code?: string }).code, 'SQLITE_READONLY');
    const fault = toFault(error, 'compute', 'req-1');
    assert.deepEqual(fault, {
      status: 503,
      code: 'storage.unavailable',
      unexpected: false,
      cause: 'SQLITE_READONLY',
      body: {
        serviceUnavailable: {
          code: 503,
          message:
            'The service cannot record changes now: its storage is read-only or failing. Nothing was changed; try again later.',
        },
      },
    });
  });

  it("answers a full disk 503 in every API family, Keystone's body for identity", () => {
    assert.deepEqual(toFault(systemError('ENOSPC'), 'image', 'req-2'), {
      status: 503,
      code: 'storage.unavailable',
      unexpected: false,
      cause: 'ENOSPC',
      body: {
        serviceUnavailable: {
          code: 503,
          message:
            'The service cannot record changes now: its storage is full. Nothing was changed; try again later.',
        },
      },
    });
    assert.deepEqual(toFault(systemError('SQLITE_FULL'), 'identity', 'req-3').body, {
      error: {
        code: 503,
        title: 'Service Unavailable',
        message:
          'The service cannot record changes now: its storage is full. Nothing was changed; try again later.',
      },
    });
  });

  it('leaves other coded errors unexpected: a 500 naming only the request', () => {
    assert.equal(storageFailure(systemError('ENOENT')), undefined);
    assert.equal(storageFailure({ code: 'SQLITE_FULL' }), undefined, 'not an Error');
    const fault = toFault(systemError('ENOENT'), 'compute', 'req-4');
    assert.deepEqual(
      [fault.status, fault.code, fault.unexpected],
      [500, 'internal.unexpected', true],
    );
  });
});

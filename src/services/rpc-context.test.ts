import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { RequestContext } from './identity.js';
import { rpcContextOf } from './rpc-context.js';

const caller = (roles: string[]): RequestContext => ({
  userId: 'u1',
  userName: 'alice',
  projectId: 'p1',
  projectName: 'demo',
  roles,
  token: { issuedAt: '2026-01-01T00:00:00Z', expiresAt: '2026-01-01T01:00:00Z', auditId: 'a1' },
});

it('rpcContextOf() names the caller in oslo.context keys, and never the token', () => {
  for (const [roles, admin] of [
    [['member', 'reader'], false],
    [['admin'], true],
  ] as const) {
    assert.deepEqual(rpcContextOf(caller([...roles]), 'req-1'), {
      request_id: 'req-1',
      global_request_id: null,
      user_id: 'u1',
      user_name: 'alice',
      project_id: 'p1',
      project_name: 'demo',
      roles: [...roles],
      is_admin: admin,
    });
  }
});

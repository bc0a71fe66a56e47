/**
 * Identity with several vpmu processes on one store: processes that start together on an empty
 * store bootstrap it once and all come up, and a token revoked through one process is refused by
 * the other on the very next request (no process may answer from a cache the other cannot clear).
 *
 * The PostgreSQL tests need VPMU_TEST_DATABASE_URL (`.ci/run` starts a private cluster with
 * scripts/postgres.sh and sets it); without it they skip locally and fail in CI.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { ComputeError } from '../errors/index.js';
import { openSqliteStore } from '../adapters/store/sqlite-store.js';
import { verifyPassword, type IdentitySeed } from '../services/index.js';
import { passwordAuth } from '../testing/api.js';
import { startChild, type TestChild } from '../testing/processes.js';
import { runWorkers } from '../testing/store-processes.js';
import { openStore, type StoreOpener } from '../testing/store-worker.js';
import { requireEnv } from '../testing/tools.js';
import { loadServeConfig } from './serve.js';

const { value: DATABASE_URL, skip: SKIP } = requireEnv(
  'VPMU_TEST_DATABASE_URL',
  'bash scripts/postgres.sh start DIR prints one; .ci/run sets it',
);

const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-identity-processes-'));
const database = `identity_${String(process.pid)}`;
const schemas: string[] = [];

/** Runs statements on the server's maintenance connection (the URL's database). */
async function admin(...statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (SKIP !== false) return;
  await admin(
    `drop database if exists ${database} with (force)`,
    ...schemas.map((schema) => `drop schema if exists "${schema}" cascade`),
  );
});

/** Ten projects and ten users, so that two bootstraps started together overlap. */
const SEED: IdentitySeed = {
  projects: Array.from({ length: 10 }, (_, n) => ({ name: `seed-project-${String(n)}` })),
  users: Array.from({ length: 10 }, (_, n) => ({
    name: `seed-user-${String(n)}`,
    password: `pw-${String(n)}`,
    project: `seed-project-${String(n)}`,
    roles: ['member'] as const,
  })),
};

/**
 * The stores the bootstrap race runs on: one SQLite file (made first: vpmu gives each file to one
 * process), and a PostgreSQL schema that does not exist yet, so the processes race to create and
 * migrate it too, as `vpmu serve` processes on a new database do.
 */
const STORES: readonly {
  readonly name: string;
  readonly skip: string | false;
  readonly prepare: () => Promise<StoreOpener>;
}[] = [
  {
    name: 'one SQLite file',
    skip: false,
    prepare: async () => {
      const file = path.join(dir, 'bootstrap.db');
      await (await openSqliteStore(file)).close();
      return { kind: 'sqlite', file };
    },
  },
  {
    name: 'PostgreSQL, a new schema',
    skip: SKIP,
    prepare: async () => {
      const schema = `identity_${String(process.pid)}_bootstrap`;
      schemas.push(schema);
      return { kind: 'postgres', url: DATABASE_URL ?? '', schema };
    },
  },
];

describe('identity bootstrap: two processes start together on an empty store', () => {
  for (const { name, skip, prepare } of STORES) {
    it(
      `${name}: both succeed, and the admin, each project and each user exist once`,
      {
        skip,
        timeout: 180_000,
      },
      async () => {
        const opener = await prepare();
        const task = { kind: 'bootstrapIdentity', adminPassword: 'pw', seed: SEED } as const;
        const results = await runWorkers(opener, [task, task]);
        const store = await openStore(opener);
        try {
          assert.deepEqual(
            results.map((r) => r.outcomes.bootstrap),
            ['ok', 'ok'],
          );
          const users = (await store.listUsers()).map((u) => u.name);
          assert.deepEqual(users, ['admin', ...SEED.users.map((u) => u.name)].sort());
          const projects = (await store.listProjects()).map((p) => p.name);
          assert.deepEqual(projects, ['admin', ...SEED.projects.map((p) => p.name)].sort());
          const adminUser = await store.findUser('admin', 'default');
          const adminProject = await store.findProject('admin', 'default');
          assert.ok(adminUser !== undefined && adminProject !== undefined);
          assert.ok(await verifyPassword('pw', adminUser.passwordHash));
          assert.deepEqual(await store.listRoles(adminUser.id, adminProject.id), [
            'admin',
            'member',
            'reader',
          ]);
          const seeded = await store.findUser('seed-user-3', 'default');
          const seededProject = await store.findProject('seed-project-3', 'default');
          assert.ok(seeded !== undefined && seededProject !== undefined);
          assert.ok(await verifyPassword('pw-3', seeded.passwordHash));
          assert.deepEqual(await store.listRoles(seeded.id, seededProject.id), ['member']);
        } finally {
          await store.close();
        }
      },
    );
  }
});

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly token: string;
}

/** One HTTP request, bounded by 30 s. */
async function call(
  base: string,
  method: string,
  url: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<Reply> {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...headers },
    signal: AbortSignal.timeout(30_000),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
    token: res.headers.get('X-Subject-Token') ?? '',
  };
}

/** A call that must succeed; its body. */
async function ok(
  base: string,
  method: string,
  url: string,
  token: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const reply = await call(base, method, url, { 'X-Auth-Token': token }, body);
  assert.ok(
    reply.status < 300,
    `${method} ${url}: ${String(reply.status)} ${JSON.stringify(reply.body)}`,
  );
  return reply.body;
}

async function login(
  base: string,
  user: string,
  password: string,
  project: string,
): Promise<string> {
  const reply = await call(
    base,
    'POST',
    '/identity/v3/auth/tokens',
    {},
    passwordAuth(user, password, project),
  );
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  return reply.token;
}

/** What a case has made: its user (with the member role on its project) and their ids. */
interface Subject {
  readonly userId: string;
  readonly projectId: string;
  readonly user: string;
  readonly project: string;
}

/**
 * Ways to end a token, each done through process B to a token process A issued and has already
 * accepted. `token` is the subject's token; `adminToken` is an admin token of B.
 */
const REVOCATIONS: readonly {
  readonly name: string;
  /** How the subject's token is obtained from A (default: password). */
  readonly login?: (a: string, subject: Subject, b: string) => Promise<string>;
  readonly revoke: (
    b: string,
    adminToken: string,
    subject: Subject,
    token: string,
  ) => Promise<void>;
}[] = [
  {
    name: 'DELETE /v3/auth/tokens',
    revoke: async (b, adminToken, _subject, token) => {
      const reply = await call(b, 'DELETE', '/identity/v3/auth/tokens', {
        'X-Auth-Token': adminToken,
        'X-Subject-Token': token,
      });
      assert.equal(reply.status, 204);
    },
  },
  {
    name: 'the user disabled',
    revoke: async (b, adminToken, s) => {
      await ok(b, 'PATCH', `/identity/v3/users/${s.userId}`, adminToken, {
        user: { enabled: false },
      });
    },
  },
  {
    name: 'the user deleted',
    revoke: async (b, adminToken, s) => {
      await ok(b, 'DELETE', `/identity/v3/users/${s.userId}`, adminToken);
    },
  },
  {
    name: 'its password changed by the user',
    revoke: async (b, _adminToken, s) => {
      const reply = await call(
        b,
        'POST',
        `/identity/v3/users/${s.userId}/password`,
        {},
        {
          user: { original_password: 'secret', password: 'changed' },
        },
      );
      assert.equal(reply.status, 204, JSON.stringify(reply.body));
    },
  },
  {
    name: 'the project disabled',
    revoke: async (b, adminToken, s) => {
      await ok(b, 'PATCH', `/identity/v3/projects/${s.projectId}`, adminToken, {
        project: { enabled: false },
      });
    },
  },
  {
    name: 'the project deleted',
    revoke: async (b, adminToken, s) => {
      await ok(b, 'DELETE', `/identity/v3/projects/${s.projectId}`, adminToken);
    },
  },
  {
    name: 'its role on the project removed',
    revoke: async (b, adminToken, s) => {
      await ok(
        b,
        'DELETE',
        `/identity/v3/projects/${s.projectId}/users/${s.userId}/roles/member`,
        adminToken,
      );
    },
  },
  {
    name: 'a role it carries deleted',
    login: async (a, s, b) => {
      const adminToken = await login(b, 'admin', 'pw', 'admin');
      const role = await ok(b, 'POST', '/identity/v3/roles', adminToken, {
        role: { name: `auditor-${s.user}` },
      });
      const roleId = (role.role as { id: string }).id;
      await ok(
        b,
        'PUT',
        `/identity/v3/projects/${s.projectId}/users/${s.userId}/roles/${roleId}`,
        adminToken,
      );
      return login(a, s.user, 'secret', s.project);
    },
    revoke: async (b, adminToken, s) => {
      const roles = await ok(b, 'GET', `/identity/v3/roles?name=auditor-${s.user}`, adminToken);
      const [role] = roles.roles as { id: string }[];
      assert.ok(role !== undefined);
      await ok(b, 'DELETE', `/identity/v3/roles/${role.id}`, adminToken);
    },
  },
  {
    name: 'its application credential deleted',
    login: async (a, s, b) => {
      const own = await login(b, s.user, 'secret', s.project);
      const made = await ok(
        b,
        'POST',
        `/identity/v3/users/${s.userId}/application_credentials`,
        own,
        {
          application_credential: { name: 'ci' },
        },
      );
      const credential = made.application_credential as { id: string; secret: string };
      const reply = await call(
        a,
        'POST',
        '/identity/v3/auth/tokens',
        {},
        {
          auth: {
            identity: {
              methods: ['application_credential'],
              application_credential: { id: credential.id, secret: credential.secret },
            },
          },
        },
      );
      assert.equal(reply.status, 201, JSON.stringify(reply.body));
      return reply.token;
    },
    revoke: async (b, _adminToken, s) => {
      const own = await login(b, s.user, 'secret', s.project);
      const listed = await ok(
        b,
        'GET',
        `/identity/v3/users/${s.userId}/application_credentials`,
        own,
      );
      const [credential] = listed.application_credentials as { id: string }[];
      assert.ok(credential !== undefined);
      await ok(
        b,
        'DELETE',
        `/identity/v3/users/${s.userId}/application_credentials/${credential.id}`,
        own,
      );
    },
  },
];

describe(
  'two vpmu serve processes on one PostgreSQL database',
  { skip: SKIP, timeout: 300_000 },
  () => {
    const children: TestChild[] = [];
    after(async () => {
      await Promise.all(children.map((child) => child.stop()));
    });

    /** Starts `vpmu serve` on the shared database; its base URL once it listens. */
    function serve(name: string, url: string): TestChild {
      const child = startChild(
        process.execPath,
        ['bin/vpmu.js', 'serve', '--port', '0', '--state-dir', path.join(dir, name)],
        {
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            VPMU_ADMIN_PASSWORD: 'pw',
            VPMU_DATABASE_URL: url,
            VPMU_LOG_LEVEL: 'warn',
          },
        },
      );
      children.push(child);
      return child;
    }

    let a = '';
    let b = '';

    it('start together on a new database: both come up, and there is one admin user', async () => {
      await admin(`create database ${database} template template0 lc_collate 'C' lc_ctype 'C'`);
      const url = new URL(DATABASE_URL ?? '');
      url.pathname = `/${database}`;
      const started = [serve('a', url.toString()), serve('b', url.toString())];
      const urls = await Promise.all(
        started.map(
          async (child) => (await child.waitFor(/vpmu listening on (http:\/\/\S+)/u))[1] ?? '',
        ),
      );
      a = urls[0] ?? '';
      b = urls[1] ?? '';
      const users = await ok(
        a,
        'GET',
        '/identity/v3/users?name=admin',
        await login(b, 'admin', 'pw', 'admin'),
      );
      assert.equal((users.users as unknown[]).length, 1);
    });

    for (const [n, revocation] of REVOCATIONS.entries()) {
      it(`a token issued and accepted by A is refused by A at once after ${revocation.name} through B`, async () => {
        assert.ok(a !== '' && b !== '', 'the services did not start');
        const adminToken = await login(b, 'admin', 'pw', 'admin');
        const subject = { user: `user-${String(n)}`, project: `project-${String(n)}` };
        const project = await ok(b, 'POST', '/identity/v3/projects', adminToken, {
          project: { name: subject.project, domain_id: 'default' },
        });
        const projectId = (project.project as { id: string }).id;
        const user = await ok(b, 'POST', '/identity/v3/users', adminToken, {
          user: { name: subject.user, password: 'secret', domain_id: 'default' },
        });
        const userId = (user.user as { id: string }).id;
        await ok(
          b,
          'PUT',
          `/identity/v3/projects/${projectId}/users/${userId}/roles/member`,
          adminToken,
        );
        const s: Subject = { ...subject, userId, projectId };
        const token = await (
          revocation.login ?? ((base: string) => login(base, s.user, 'secret', s.project))
        )(a, s, b);
        // A validates it twice: a process that kept validations would now answer from memory.
        for (let i = 0; i < 2; i++) {
          assert.equal(
            (await call(a, 'GET', '/compute/v2.1/flavors', { 'X-Auth-Token': token })).status,
            200,
          );
        }
        await revocation.revoke(b, adminToken, s, token);
        for (const [name, base] of [
          ['A', a],
          ['B', b],
        ] as const) {
          const reply = await call(base, 'GET', '/compute/v2.1/flavors', { 'X-Auth-Token': token });
          assert.equal(
            reply.status,
            401,
            `${name} accepted the token: ${JSON.stringify(reply.body)}`,
          );
        }
      });
    }
  },
);

describe('loadServeConfig() on a shared database', () => {
  it('refuses databaseUrl without VPMU_ADMIN_PASSWORD (generated passwords would differ by process)', () => {
    const env = { VPMU_DATABASE_URL: 'postgres://u@h/db' };
    assert.throws(
      () => loadServeConfig([], env, () => ''),
      (error: unknown) =>
        error instanceof ComputeError &&
        error.code === 'input.invalid' &&
        error.message ===
          'Cannot use databaseUrl without VPMU_ADMIN_PASSWORD: every vpmu process on the database sets the password of user "admin" at start, so give each the same one',
    );
    assert.equal(
      loadServeConfig([], { ...env, VPMU_ADMIN_PASSWORD: 'pw' }, () => '').adminPassword,
      'pw',
    );
  });
});

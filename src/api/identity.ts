/**
 * Identity API, a Keystone v3 subset under `/identity`: version discovery, authentication
 * (password, token, application credential; project-scoped or unscoped) and token validation.
 * Administration (projects, users, roles, …) is in identity-admin.ts. Shapes follow Keystone's
 * api-ref (identity v3).
 */
import { Hono, type Context } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  authenticate,
  DEFAULT_DOMAIN,
  isUnscoped,
  revokeToken,
  validateSubjectToken,
  validateToken,
  type AuthMethod,
  type AuthRequest,
  type PasswordAuth,
  type RequestContext,
} from '../services/index.js';
import { member, origin, readJsonObject } from './_http.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { catalogOf, identityAdminRoutes } from './identity-admin.js';

const IDENTITY_VERSION = 'v3.14';

/** The identity routes, to be mounted at `/identity`. */
export function identityRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>({ strict: false });
  const versionDoc = (c: Context<ApiEnv>) => ({
    id: IDENTITY_VERSION,
    status: 'stable',
    updated: '2020-04-07T00:00:00Z',
    links: [{ rel: 'self', href: `${origin(c)}/identity/v3/` }],
    'media-types': [
      { base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' },
    ],
  });

  app.get('/', (c) => c.json({ versions: { values: [versionDoc(c)] } }, 300));
  app.get('/v3', (c) => c.json({ version: versionDoc(c) }));
  app.get('/v3/', (c) => c.json({ version: versionDoc(c) }));

  app.post('/v3/auth/tokens', async (c) => {
    const auth = parseAuth(await readJsonObject(c, 'object with "auth"'));
    const issued = await authenticate(deps, auth);
    c.header('X-Subject-Token', issued.text);
    return c.json(await tokenBody(c, deps, issued.context), 201);
  });

  app.get('/v3/auth/tokens', async (c) => {
    const callerContext = await validateToken(deps, c.req.header('X-Auth-Token'), {
      allowUnscoped: true,
    });
    const subject = c.req.header('X-Subject-Token');
    const subjectContext = await validateSubjectToken(deps, subject);
    if (!callerContext.roles.includes('admin') && callerContext.userId !== subjectContext.userId) {
      throw new ComputeError(
        'auth.forbidden',
        `Cannot validate a token of user ${subjectContext.userName}: only admins validate other users' tokens`,
      );
    }
    c.header('X-Subject-Token', subject ?? '');
    return c.json(await tokenBody(c, deps, subjectContext));
  });

  app.delete('/v3/auth/tokens', async (c) => {
    const callerContext = await validateToken(deps, c.req.header('X-Auth-Token'), {
      allowUnscoped: true,
    });
    await revokeToken(deps, callerContext, c.req.header('X-Subject-Token'));
    return c.body(null, 204);
  });

  app.on('HEAD', '/v3/auth/tokens', async (c) => {
    const callerContext = await validateToken(deps, c.req.header('X-Auth-Token'), {
      allowUnscoped: true,
    });
    const subjectContext = await validateSubjectToken(deps, c.req.header('X-Subject-Token'));
    if (!callerContext.roles.includes('admin') && callerContext.userId !== subjectContext.userId) {
      throw new ComputeError(
        'auth.forbidden',
        `Cannot check a token of user ${subjectContext.userName}: only admins check other users' tokens`,
      );
    }
    return c.body(null, 200);
  });

  identityAdminRoutes(app, deps);
  return app;
}

/** Keystone's token body, with a catalog whose URLs point at the public endpoint. */
async function tokenBody(
  c: Context<ApiEnv>,
  deps: ApiDeps,
  ctx: RequestContext,
): Promise<Record<string, unknown>> {
  const scoped = !isUnscoped(ctx);
  const roles = await Promise.all(
    ctx.roles.map(async (name) => ({ id: (await deps.store.findRole(name))?.id ?? name, name })),
  );
  return {
    token: {
      methods: ctx.methods ?? ['password'],
      user: {
        id: ctx.userId,
        name: ctx.userName,
        domain: { ...DEFAULT_DOMAIN },
        password_expires_at: null,
      },
      audit_ids: [ctx.token.auditId],
      issued_at: keystoneTime(ctx.token.issuedAt),
      expires_at: keystoneTime(ctx.token.expiresAt),
      ...(scoped
        ? {
            project: { id: ctx.projectId, name: ctx.projectName, domain: { ...DEFAULT_DOMAIN } },
            is_domain: false,
            roles,
            catalog: catalogOf(origin(c), deps.region),
          }
        : {}),
      ...(ctx.applicationCredential === undefined
        ? {}
        : { application_credential: { ...ctx.applicationCredential } }),
    },
  };
}

/** Keystone prints microseconds: 2026-01-01T00:00:00.000000Z. */
function keystoneTime(iso: string): string {
  return iso.replace(/\.(\d{3})Z$/u, '.$1000Z');
}

const METHODS = ['password', 'token', 'application_credential'] as const;

function parseAuth(body: Record<string, unknown>): AuthRequest {
  const auth = member(body, 'auth');
  const identity = member(auth, 'identity');
  const methods = identity.methods;
  const method =
    Array.isArray(methods) && methods.length === 1 && typeof methods[0] === 'string'
      ? METHODS.find((m) => m === methods[0])
      : undefined;
  if (method === undefined) {
    throw new ComputeError(
      'request.invalid',
      `Invalid input for field/attribute auth.identity.methods. Value: ${JSON.stringify(methods ?? null)}. vpmu supports one of ["password"], ["token"], ["application_credential"]`,
    );
  }
  return { method: parseMethod(method, member(identity, method)), ...parseScope(auth.scope) };
}

function parseMethod(method: (typeof METHODS)[number], body: Record<string, unknown>): AuthMethod {
  if (method === 'token') {
    if (typeof body.id !== 'string') {
      throw invalidAuth('auth.identity.token.id', body.id, 'A string is required');
    }
    return { kind: 'token', token: body.id };
  }
  if (method === 'application_credential') {
    if (typeof body.secret !== 'string') {
      throw invalidAuth(
        'auth.identity.application_credential.secret',
        null,
        'A string is required',
      );
    }
    const user = body.user;
    const named = typeof body.name === 'string';
    if (typeof body.id !== 'string' && !(named && typeof user === 'object' && user !== null)) {
      throw invalidAuth(
        'auth.identity.application_credential',
        { ...body, secret: '***' },
        "Give the credential's id, or its name and its user (id, or name and domain)",
      );
    }
    return {
      kind: 'application_credential',
      secret: body.secret,
      ...(typeof body.id === 'string' ? { id: body.id } : {}),
      ...(named ? { name: body.name as string } : {}),
      ...(typeof user === 'object' && user !== null && !Array.isArray(user)
        ? { user: nameOrId(user as Record<string, unknown>) }
        : {}),
    };
  }
  const user = member(body, 'user');
  const password = user.password;
  if (typeof password !== 'string') {
    throw invalidAuth('auth.identity.password.user.password', null, 'A string is required');
  }
  return { kind: 'password', user: nameOrId(user), password };
}

/** The project scope; no scope means unscoped. Domain and system scopes are not offered. */
function parseScope(scope: unknown): { project?: PasswordAuth['project'] } {
  if (scope === undefined || scope === null) return {};
  if (typeof scope !== 'object' || Array.isArray(scope)) {
    throw invalidAuth('auth.scope', scope, 'An object is required');
  }
  const project = (scope as Record<string, unknown>).project;
  if (typeof project !== 'object' || project === null || Array.isArray(project)) {
    throw new ComputeError(
      'request.invalid',
      `Invalid input for field/attribute auth.scope. Value: ${JSON.stringify(scope)}. vpmu issues project-scoped and unscoped tokens only: set auth.scope.project (name and domain, or id), or no scope`,
    );
  }
  return { project: nameOrId(project as Record<string, unknown>) };
}

function invalidAuth(field: string, value: unknown, why: string): ComputeError {
  return new ComputeError(
    'request.invalid',
    `Invalid input for field/attribute ${field}. Value: ${JSON.stringify(value ?? null)}. ${why}`,
  );
}

function nameOrId(ref: Record<string, unknown>): PasswordAuth['user'] {
  const domain = ref.domain;
  const d =
    typeof domain === 'object' && domain !== null && !Array.isArray(domain)
      ? (domain as Record<string, unknown>)
      : undefined;
  return {
    ...(typeof ref.id === 'string' ? { id: ref.id } : {}),
    ...(typeof ref.name === 'string' ? { name: ref.name } : {}),
    ...(d === undefined
      ? {}
      : {
          domain: {
            ...(typeof d.id === 'string' ? { id: d.id } : {}),
            ...(typeof d.name === 'string' ? { name: d.name } : {}),
          },
        }),
  };
}

/**
 * Identity API, a Keystone v3 subset under `/identity`: version discovery, password
 * authentication with project scope, and token validation. Shapes follow Keystone's
 * api-ref (identity v3 "Password authentication with scoped authorization").
 */
import { Hono, type Context } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  authenticatePassword,
  DEFAULT_DOMAIN,
  revokeToken,
  validateSubjectToken,
  validateToken,
  type PasswordAuth,
  type RequestContext,
} from '../services/index.js';
import { member, origin, readJsonObject } from './_http.js';
import type { ApiDeps, ApiEnv } from './deps.js';

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
    const auth = parsePasswordAuth(await readJsonObject(c, 'object with "auth"'));
    const issued = await authenticatePassword(deps, auth);
    c.header('X-Subject-Token', issued.text);
    return c.json(tokenBody(c, deps, issued.context), 201);
  });

  app.get('/v3/auth/tokens', async (c) => {
    const callerContext = await validateToken(deps, c.req.header('X-Auth-Token'));
    const subject = c.req.header('X-Subject-Token');
    const subjectContext = await validateSubjectToken(deps, subject);
    if (!callerContext.roles.includes('admin') && callerContext.userId !== subjectContext.userId) {
      throw new ComputeError(
        'auth.forbidden',
        `Cannot validate a token of user ${subjectContext.userName}: only admins validate other users' tokens`,
      );
    }
    c.header('X-Subject-Token', subject ?? '');
    return c.json(tokenBody(c, deps, subjectContext));
  });

  app.delete('/v3/auth/tokens', async (c) => {
    const callerContext = await validateToken(deps, c.req.header('X-Auth-Token'));
    await revokeToken(deps, callerContext, c.req.header('X-Subject-Token'));
    return c.body(null, 204);
  });

  return app;
}

/** Keystone's token body, with a catalog whose URLs point back at the host the client used. */
function tokenBody(
  c: Context<ApiEnv>,
  deps: ApiDeps,
  ctx: RequestContext,
): Record<string, unknown> {
  const base = origin(c);
  const service = (type: string, name: string, url: string) => ({
    id: `${name}-service`,
    type,
    name,
    endpoints: (['public', 'internal', 'admin'] as const).map((iface) => ({
      id: `${name}-${iface}`,
      interface: iface,
      region: deps.region,
      region_id: deps.region,
      url,
    })),
  });
  return {
    token: {
      methods: ['password'],
      user: {
        id: ctx.userId,
        name: ctx.userName,
        domain: { ...DEFAULT_DOMAIN },
        password_expires_at: null,
      },
      audit_ids: [ctx.token.auditId],
      issued_at: keystoneTime(ctx.token.issuedAt),
      expires_at: keystoneTime(ctx.token.expiresAt),
      project: { id: ctx.projectId, name: ctx.projectName, domain: { ...DEFAULT_DOMAIN } },
      is_domain: false,
      roles: ctx.roles.map((role) => ({ id: role, name: role })),
      catalog: [
        service('identity', 'keystone', `${base}/identity`),
        service('compute', 'nova', `${base}/compute/v2.1`),
        service('image', 'glance', `${base}/image`),
        service('placement', 'placement', `${base}/placement`),
      ],
    },
  };
}

/** Keystone prints microseconds: 2026-01-01T00:00:00.000000Z. */
function keystoneTime(iso: string): string {
  return iso.replace(/\.(\d{3})Z$/u, '.$1000Z');
}

function parsePasswordAuth(body: Record<string, unknown>): PasswordAuth {
  const auth = member(body, 'auth');
  const identity = member(auth, 'identity');
  const methods = identity.methods;
  if (!Array.isArray(methods) || !methods.includes('password')) {
    throw new ComputeError(
      'request.invalid',
      `Invalid input for field/attribute auth.identity.methods. Value: ${JSON.stringify(methods ?? null)}. vpmu supports only ["password"]`,
    );
  }
  const user = member(member(identity, 'password'), 'user');
  const password = user.password;
  if (typeof password !== 'string') {
    throw new ComputeError(
      'request.invalid',
      'Invalid input for field/attribute auth.identity.password.user.password. Value: null. A string is required',
    );
  }
  const scope = auth.scope;
  const project =
    typeof scope === 'object' && scope !== null && !Array.isArray(scope)
      ? (scope as Record<string, unknown>).project
      : undefined;
  if (typeof project !== 'object' || project === null || Array.isArray(project)) {
    throw new ComputeError(
      'request.invalid',
      'Cannot authenticate without a project scope: set auth.scope.project (name and domain, or id); vpmu issues only project-scoped tokens',
    );
  }
  return {
    user: nameOrId(user),
    password,
    project: nameOrId(project as Record<string, unknown>),
  };
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

/**
 * Keystone v3 administration under `/identity/v3`: domains (the one, `Default`), projects, users,
 * roles, grants on projects, role assignments, application credentials, the token's projects and
 * catalog, and the catalog's services, endpoints and regions. Bodies follow Keystone's api-ref;
 * attributes Keystone keeps as "extra" (a user's `email`, …) are kept and returned as given.
 */
import type { Context, Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  changePassword,
  checkGrant,
  createApplicationCredential,
  createProject,
  createRole,
  createUser,
  DEFAULT_DOMAIN,
  deleteApplicationCredential,
  deleteProject,
  deleteRole,
  deleteUser,
  enforce,
  getApplicationCredential,
  getProject,
  getUser,
  grantRole,
  grantsOf,
  isUnscoped,
  listApplicationCredentials,
  listAssignments,
  notFound,
  revokeGrant,
  updateProject,
  updateRole,
  updateUser,
  userProjects,
  validateToken,
  type ApplicationCredentialRecord,
  type ProjectInput,
  type ProjectRecord,
  type RequestContext,
  type RoleAssignment,
  type RoleRecord,
  type UserRecord,
  type UserInput,
} from '../services/index.js';
import { member, origin, readJsonObject } from './_http.js';
import { lastValue, queryParams, type QueryParams } from './_query.js';
import type { ApiDeps, ApiEnv } from './deps.js';

type C = Context<ApiEnv>;

const DOMAIN_DESCRIPTION = 'The default domain';

/** The catalog vpmu serves: one endpoint per interface for each service, all on this port. */
export function catalogOf(base: string, region: string): Record<string, unknown>[] {
  return SERVICES.map((s) => ({
    id: s.id,
    type: s.type,
    name: s.name,
    endpoints: (['public', 'internal', 'admin'] as const).map((iface) => ({
      id: `${s.name}-${iface}`,
      interface: iface,
      region,
      region_id: region,
      url: `${base}${s.path}`,
    })),
  }));
}

const SERVICES = [
  { id: 'keystone-service', type: 'identity', name: 'keystone', path: '/identity' },
  { id: 'nova-service', type: 'compute', name: 'nova', path: '/compute/v2.1' },
  { id: 'glance-service', type: 'image', name: 'glance', path: '/image' },
  { id: 'placement-service', type: 'placement', name: 'placement', path: '/placement' },
] as const;

/** Registers the administration routes on the identity app (mounted at `/identity`). */
export function identityAdminRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const auth = async (c: C): Promise<RequestContext> => {
    const ctx = await validateToken(deps, c.req.header('X-Auth-Token'), { allowUnscoped: true });
    c.set('caller', ctx);
    return ctx;
  };
  const v3 = (c: C) => `${origin(c)}/identity/v3`;
  const links = (c: C) => ({ self: `${origin(c)}${c.req.path}`, previous: null, next: null });

  // Domains: vpmu has the one, Keystone's `default`.
  app.get('/v3/domains', async (c) => {
    const ctx = await auth(c);
    enforce(ctx, 'identity:list_domains');
    const q = queryParams(c);
    const name = lastValue(q, 'name');
    const enabled = flag(q, 'enabled');
    const all = [domainView(c)].filter(
      (d) => (name === undefined || d.name === name) && (enabled === undefined || enabled),
    );
    return c.json({ domains: all, links: links(c) });
  });
  app.get('/v3/domains/:id', async (c) => {
    const ctx = await auth(c);
    enforce(ctx, 'identity:get_domain');
    if (c.req.param('id') !== DEFAULT_DOMAIN.id) throw notFound('domain', c.req.param('id'));
    return c.json({ domain: domainView(c) });
  });

  // Projects.
  app.get('/v3/projects', async (c) => {
    const ctx = await auth(c);
    enforce(ctx, 'identity:list_projects');
    const q = queryParams(c);
    const projects = filterProjects(await deps.store.listProjects(), q);
    return c.json({ projects: projects.map((p) => projectView(c, p)), links: links(c) });
  });
  app.post('/v3/projects', async (c) => {
    const ctx = await auth(c);
    const body = member(await readJsonObject(c, 'object with "project"'), 'project');
    const input = projectInput(body, true);
    const project = await createProject(deps, ctx, { ...input, name: input.name ?? '' });
    return c.json({ project: projectView(c, project) }, 201);
  });
  app.get('/v3/projects/:id', async (c) => {
    const ctx = await auth(c);
    return c.json({ project: projectView(c, await getProject(deps, ctx, c.req.param('id'))) });
  });
  app.patch('/v3/projects/:id', async (c) => {
    const ctx = await auth(c);
    const body = member(await readJsonObject(c, 'object with "project"'), 'project');
    const project = await updateProject(deps, ctx, c.req.param('id'), projectInput(body, false));
    return c.json({ project: projectView(c, project) });
  });
  app.delete('/v3/projects/:id', async (c) => {
    await deleteProject(deps, await auth(c), c.req.param('id'));
    return c.body(null, 204);
  });

  // Users.
  app.get('/v3/users', async (c) => {
    const ctx = await auth(c);
    enforce(ctx, 'identity:list_users');
    const q = queryParams(c);
    const name = lastValue(q, 'name');
    const enabled = flag(q, 'enabled');
    const domain = lastValue(q, 'domain_id');
    const users = (await deps.store.listUsers()).filter(
      (u) =>
        (name === undefined || u.name === name) &&
        (enabled === undefined || u.enabled === enabled) &&
        (domain === undefined || u.domainId === domain),
    );
    return c.json({ users: users.map((u) => userView(c, u)), links: links(c) });
  });
  app.post('/v3/users', async (c) => {
    const ctx = await auth(c);
    const body = member(await readJsonObject(c, 'object with "user"'), 'user');
    const input = userInput(body, true);
    const user = await createUser(deps, ctx, { ...input, name: input.name ?? '' });
    return c.json({ user: userView(c, user) }, 201);
  });
  app.get('/v3/users/:id', async (c) => {
    const ctx = await auth(c);
    return c.json({ user: userView(c, await getUser(deps, ctx, c.req.param('id'))) });
  });
  app.patch('/v3/users/:id', async (c) => {
    const ctx = await auth(c);
    const body = member(await readJsonObject(c, 'object with "user"'), 'user');
    const user = await updateUser(deps, ctx, c.req.param('id'), userInput(body, false));
    return c.json({ user: userView(c, user) });
  });
  app.delete('/v3/users/:id', async (c) => {
    await deleteUser(deps, await auth(c), c.req.param('id'));
    return c.body(null, 204);
  });
  app.post('/v3/users/:id/password', async (c) => {
    const body = member(await readJsonObject(c, 'object with "user"'), 'user');
    const password = requiredString(body, 'password', 'user');
    const original = requiredString(body, 'original_password', 'user');
    refuseOther(body, ['password', 'original_password'], 'user');
    await changePassword(deps, c.req.param('id'), original, password);
    return c.body(null, 204);
  });
  app.get('/v3/users/:id/projects', async (c) => {
    const ctx = await auth(c);
    const id = c.req.param('id');
    enforce(ctx, 'identity:list_user_projects', { userId: id });
    if ((await deps.store.getUser(id)) === undefined) throw notFound('user', id);
    const projects = filterProjects(await userProjects(deps, id), queryParams(c));
    return c.json({ projects: projects.map((p) => projectView(c, p)), links: links(c) });
  });
  app.get('/v3/users/:id/groups', async (c) => {
    const ctx = await auth(c);
    const id = c.req.param('id');
    enforce(ctx, 'identity:list_groups_for_user', { userId: id });
    if ((await deps.store.getUser(id)) === undefined) throw notFound('user', id);
    return c.json({ groups: [], links: links(c) });
  });

  // Roles.
  app.get('/v3/roles', async (c) => {
    const ctx = await auth(c);
    enforce(ctx, 'identity:list_roles');
    const q = queryParams(c);
    const name = lastValue(q, 'name');
    // Domain-specific roles are not offered: a domain filter finds none.
    const roles = lastValue(q, 'domain_id') === undefined ? await deps.store.listRoleRecords() : [];
    return c.json({
      roles: roles.filter((r) => name === undefined || r.name === name).map((r) => roleView(c, r)),
      links: links(c),
    });
  });
  app.post('/v3/roles', async (c) => {
    const ctx = await auth(c);
    const body = member(await readJsonObject(c, 'object with "role"'), 'role');
    const input = roleInput(body, true);
    const role = await createRole(deps, ctx, { ...input, name: input.name ?? '' });
    return c.json({ role: roleView(c, role) }, 201);
  });
  app.get('/v3/roles/:id', async (c) => {
    const ctx = await auth(c);
    enforce(ctx, 'identity:get_role');
    const role = await deps.store.getRole(c.req.param('id'));
    if (role === undefined) throw notFound('role', c.req.param('id'));
    return c.json({ role: roleView(c, role) });
  });
  app.patch('/v3/roles/:id', async (c) => {
    const ctx = await auth(c);
    const body = member(await readJsonObject(c, 'object with "role"'), 'role');
    const role = await updateRole(deps, ctx, c.req.param('id'), roleInput(body, false));
    return c.json({ role: roleView(c, role) });
  });
  app.delete('/v3/roles/:id', async (c) => {
    await deleteRole(deps, await auth(c), c.req.param('id'));
    return c.body(null, 204);
  });

  // Grants of a role to a user on a project.
  const grant = (c: C): RoleAssignment => ({
    projectId: c.req.param('project') ?? '',
    userId: c.req.param('user') ?? '',
    role: c.req.param('role') ?? '',
  });
  app.get('/v3/projects/:project/users/:user/roles', async (c) => {
    const ctx = await auth(c);
    const roles = await grantsOf(deps, ctx, c.req.param('project'), c.req.param('user'));
    return c.json({ roles: roles.map((r) => roleView(c, r)), links: links(c) });
  });
  app.put('/v3/projects/:project/users/:user/roles/:role', async (c) => {
    await grantRole(deps, await auth(c), grant(c));
    return c.body(null, 204);
  });
  app.on('HEAD', '/v3/projects/:project/users/:user/roles/:role', async (c) => {
    await checkGrant(deps, await auth(c), grant(c));
    return c.body(null, 204);
  });
  app.get('/v3/projects/:project/users/:user/roles/:role', async (c) => {
    await checkGrant(deps, await auth(c), grant(c));
    return c.body(null, 204);
  });
  app.delete('/v3/projects/:project/users/:user/roles/:role', async (c) => {
    await revokeGrant(deps, await auth(c), grant(c));
    return c.body(null, 204);
  });

  app.get('/v3/role_assignments', async (c) => {
    const ctx = await auth(c);
    const q = queryParams(c);
    const userId = lastValue(q, 'user.id');
    const projectId = lastValue(q, 'scope.project.id');
    const roleId = lastValue(q, 'role.id');
    // No groups, domain grants or system grants exist here: filters for them find nothing.
    const none =
      q.has('group.id') ||
      q.has('scope.domain.id') ||
      q.has('scope.system') ||
      q.has('scope.OS-INHERIT:inherited_to');
    const found = none
      ? []
      : await listAssignments(deps, ctx, {
          ...(userId === undefined ? {} : { userId }),
          ...(projectId === undefined ? {} : { projectId }),
          ...(roleId === undefined ? {} : { roleId }),
        });
    if (none) enforce(ctx, 'identity:list_role_assignments');
    const names = flag(q, 'include_names') === true;
    const [users, projects, roles] = names
      ? await Promise.all([
          deps.store.listUsers(),
          deps.store.listProjects(),
          deps.store.listRoleRecords(),
        ])
      : [[], [], []];
    const byId = <T extends { id: string }>(list: readonly T[]) =>
      new Map(list.map((x) => [x.id, x]));
    const [u, p, r] = [byId(users), byId(projects), byId(roles)];
    const domain = { id: DEFAULT_DOMAIN.id, name: DEFAULT_DOMAIN.name };
    return c.json({
      role_assignments: found.map((a) => ({
        role: names ? { id: a.role, name: r.get(a.role)?.name ?? a.role } : { id: a.role },
        user: names
          ? { id: a.userId, name: u.get(a.userId)?.name ?? a.userId, domain }
          : { id: a.userId },
        scope: {
          project: names
            ? { id: a.projectId, name: p.get(a.projectId)?.name ?? a.projectId, domain }
            : { id: a.projectId },
        },
        links: {
          assignment: `${v3(c)}/projects/${a.projectId}/users/${a.userId}/roles/${a.role}`,
        },
      })),
      links: links(c),
    });
  });

  // Application credentials.
  app.post('/v3/users/:id/application_credentials', async (c) => {
    const ctx = await auth(c);
    const body = member(
      await readJsonObject(c, 'object with "application_credential"'),
      'application_credential',
    );
    const created = await createApplicationCredential(
      deps,
      ctx,
      c.req.param('id'),
      applicationCredentialInput(body),
    );
    const view = await credentialView(c, deps, created.credential);
    return c.json({ application_credential: { ...view, secret: created.secret } }, 201);
  });
  app.get('/v3/users/:id/application_credentials', async (c) => {
    const ctx = await auth(c);
    const name = lastValue(queryParams(c), 'name');
    const all = await listApplicationCredentials(deps, ctx, c.req.param('id'));
    const views = await Promise.all(
      all
        .filter((a) => name === undefined || a.name === name)
        .map((a) => credentialView(c, deps, a)),
    );
    return c.json({ application_credentials: views, links: links(c) });
  });
  app.get('/v3/users/:id/application_credentials/:cred', async (c) => {
    const ctx = await auth(c);
    const found = await getApplicationCredential(deps, ctx, c.req.param('id'), c.req.param('cred'));
    return c.json({ application_credential: await credentialView(c, deps, found) });
  });
  app.delete('/v3/users/:id/application_credentials/:cred', async (c) => {
    await deleteApplicationCredential(deps, await auth(c), c.req.param('id'), c.req.param('cred'));
    return c.body(null, 204);
  });

  // What the caller's token gives access to.
  app.get('/v3/auth/projects', async (c) => {
    const ctx = await auth(c);
    const projects = (await userProjects(deps, ctx.userId)).filter((p) => p.enabled);
    return c.json({ projects: projects.map((p) => projectView(c, p)), links: links(c) });
  });
  app.get('/v3/auth/domains', async (c) => {
    await auth(c);
    // Roles are granted on projects only, so no token can be scoped to a domain.
    return c.json({ domains: [], links: links(c) });
  });
  app.get('/v3/auth/catalog', async (c) => {
    const ctx = await auth(c);
    if (isUnscoped(ctx)) {
      // NOTE: Keystone wording (keystone/api/auth.py, an unscoped token has no catalog).
      throw new ComputeError(
        'auth.forbidden',
        'A project-scoped token is required to produce a service catalog.',
      );
    }
    return c.json({ catalog: catalogOf(origin(c), deps.region), links: links(c) });
  });

  // The catalog's services, endpoints and regions (read-only: they describe this vpmu).
  app.get('/v3/services', async (c) => {
    const ctx = await auth(c);
    enforce(ctx, 'identity:list_services');
    const type = lastValue(queryParams(c), 'type');
    const services = SERVICES.filter((s) => type === undefined || s.type === type);
    return c.json({ services: services.map((s) => serviceView(c, s)), links: links(c) });
  });
  app.get('/v3/services/:id', async (c) => {
    const ctx = await auth(c);
    enforce(ctx, 'identity:get_service');
    const service = SERVICES.find((s) => s.id === c.req.param('id'));
    if (service === undefined) throw notFound('service', c.req.param('id'));
    return c.json({ service: serviceView(c, service) });
  });
  app.get('/v3/endpoints', async (c) => {
    const ctx = await auth(c);
    enforce(ctx, 'identity:list_endpoints');
    const q = queryParams(c);
    const [iface, serviceId, regionId] = ['interface', 'service_id', 'region_id'].map((k) =>
      lastValue(q, k),
    );
    const endpoints = endpointViews(c, deps.region).filter(
      (e) =>
        (iface === undefined || e.interface === iface) &&
        (serviceId === undefined || e.service_id === serviceId) &&
        (regionId === undefined || e.region_id === regionId),
    );
    return c.json({ endpoints, links: links(c) });
  });
  app.get('/v3/endpoints/:id', async (c) => {
    const ctx = await auth(c);
    enforce(ctx, 'identity:get_endpoint');
    const endpoint = endpointViews(c, deps.region).find((e) => e.id === c.req.param('id'));
    if (endpoint === undefined) throw notFound('endpoint', c.req.param('id'));
    return c.json({ endpoint });
  });
  app.get('/v3/regions', async (c) => {
    const ctx = await auth(c);
    enforce(ctx, 'identity:list_regions');
    return c.json({ regions: [regionView(c, deps.region)], links: links(c) });
  });
  app.get('/v3/regions/:id', async (c) => {
    const ctx = await auth(c);
    enforce(ctx, 'identity:get_region');
    if (c.req.param('id') !== deps.region) throw notFound('region', c.req.param('id'));
    return c.json({ region: regionView(c, deps.region) });
  });
}

function domainView(c: C) {
  return {
    id: DEFAULT_DOMAIN.id,
    name: DEFAULT_DOMAIN.name as string,
    description: DOMAIN_DESCRIPTION,
    enabled: true,
    tags: [],
    options: {},
    links: { self: `${origin(c)}/identity/v3/domains/${DEFAULT_DOMAIN.id}` },
  };
}

function projectView(c: C, p: ProjectRecord): Record<string, unknown> {
  return {
    ...p.extra,
    id: p.id,
    name: p.name,
    domain_id: p.domainId,
    description: p.description,
    enabled: p.enabled,
    parent_id: p.parentId ?? p.domainId,
    is_domain: false,
    tags: [],
    options: {},
    links: { self: `${origin(c)}/identity/v3/projects/${p.id}` },
  };
}

function userView(c: C, u: UserRecord): Record<string, unknown> {
  return {
    ...u.extra,
    id: u.id,
    name: u.name,
    domain_id: u.domainId,
    enabled: u.enabled,
    password_expires_at: null,
    options: {},
    ...(u.defaultProjectId === undefined ? {} : { default_project_id: u.defaultProjectId }),
    links: { self: `${origin(c)}/identity/v3/users/${u.id}` },
  };
}

function roleView(c: C, r: RoleRecord): Record<string, unknown> {
  return {
    id: r.id,
    name: r.name,
    domain_id: null,
    description: r.description,
    options: {},
    links: { self: `${origin(c)}/identity/v3/roles/${r.id}` },
  };
}

async function credentialView(
  c: C,
  deps: ApiDeps,
  a: ApplicationCredentialRecord,
): Promise<Record<string, unknown>> {
  const roles = await Promise.all(
    a.roleIds.map(async (id) => {
      const role = await deps.store.getRole(id);
      return { id, name: role?.name ?? id, domain_id: null };
    }),
  );
  return {
    id: a.id,
    name: a.name,
    description: a.description,
    user_id: a.userId,
    project_id: a.projectId,
    expires_at: a.expiresAt,
    unrestricted: a.unrestricted,
    roles,
    access_rules: [],
    links: {
      self: `${origin(c)}/identity/v3/users/${a.userId}/application_credentials/${a.id}`,
    },
  };
}

function serviceView(c: C, s: (typeof SERVICES)[number]): Record<string, unknown> {
  return {
    id: s.id,
    type: s.type,
    name: s.name,
    enabled: true,
    description: '',
    links: { self: `${origin(c)}/identity/v3/services/${s.id}` },
  };
}

function endpointViews(c: C, region: string) {
  return catalogOf(origin(c), region).flatMap((service) =>
    (service.endpoints as { id: string; interface: string; url: string }[]).map((e) => ({
      id: e.id,
      interface: e.interface,
      region,
      region_id: region,
      service_id: service.id as string,
      url: e.url,
      enabled: true,
      links: { self: `${origin(c)}/identity/v3/endpoints/${e.id}` },
    })),
  );
}

function regionView(c: C, region: string): Record<string, unknown> {
  return {
    id: region,
    description: '',
    parent_region_id: null,
    links: { self: `${origin(c)}/identity/v3/regions/${region}` },
  };
}

function filterProjects(projects: readonly ProjectRecord[], q: QueryParams): ProjectRecord[] {
  const name = lastValue(q, 'name');
  const enabled = flag(q, 'enabled');
  const domain = lastValue(q, 'domain_id');
  const parent = lastValue(q, 'parent_id');
  const isDomain = flag(q, 'is_domain');
  return projects.filter(
    (p) =>
      (name === undefined || p.name === name) &&
      (enabled === undefined || p.enabled === enabled) &&
      (domain === undefined || p.domainId === domain) &&
      (parent === undefined || (p.parentId ?? p.domainId) === parent) &&
      isDomain !== true,
  );
}

/** A Keystone boolean query filter: absent is undefined; "0" and "false" are false; else true. */
function flag(q: QueryParams, name: string): boolean | undefined {
  const value = lastValue(q, name);
  if (value === undefined) return undefined;
  return !['0', 'false'].includes(value.toLowerCase());
}

// NOTE: Keystone's JSON schemas (keystone/*/schema.py) keep unknown attributes of projects and
// users as "extra"; vpmu does the same, and refuses the Keystone attributes it does not offer.

function projectInput(body: Record<string, unknown>, create: boolean): ProjectInput {
  const name = optionalName(body, 'project', create, 64);
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (
      [
        'name',
        'description',
        'enabled',
        'parent_id',
        'domain_id',
        'is_domain',
        'tags',
        'options',
      ].includes(key)
    )
      continue;
    extra[key] = value;
  }
  checkDomain(body, 'project', create);
  if (body.is_domain !== undefined && body.is_domain !== false) {
    throw invalid(
      'project.is_domain',
      body.is_domain,
      'vpmu has one domain (Default): projects cannot act as domains',
    );
  }
  if (body.tags !== undefined && !(Array.isArray(body.tags) && body.tags.length === 0)) {
    throw invalid('project.tags', body.tags, 'vpmu keeps no project tags');
  }
  checkOptions(body, 'project');
  return {
    ...(name === undefined ? {} : { name }),
    ...optionalDescription(body, 'project'),
    ...optionalEnabled(body, 'project'),
    ...(body.parent_id === undefined || body.parent_id === null
      ? {}
      : { parentId: stringField(body, 'parent_id', 'project') }),
    ...(Object.keys(extra).length === 0 ? {} : { extra }),
  };
}

function userInput(body: Record<string, unknown>, create: boolean): UserInput {
  const name = optionalName(body, 'user', create, 255);
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (
      [
        'name',
        'password',
        'enabled',
        'domain_id',
        'default_project_id',
        'options',
        'federated',
      ].includes(key)
    )
      continue;
    extra[key] = value;
  }
  checkDomain(body, 'user', create);
  checkOptions(body, 'user');
  if (body.federated !== undefined) {
    throw invalid('user.federated', body.federated, 'vpmu offers no federation');
  }
  const password = body.password;
  if (password !== undefined && password !== null && typeof password !== 'string') {
    throw invalid('user.password', password, 'A string or null is required');
  }
  const project = body.default_project_id;
  if (project !== undefined && project !== null && typeof project !== 'string') {
    throw invalid('user.default_project_id', project, 'A string or null is required');
  }
  return {
    ...(name === undefined ? {} : { name }),
    ...(password === undefined ? {} : { password }),
    ...optionalEnabled(body, 'user'),
    ...(project === undefined ? {} : { defaultProjectId: project }),
    ...(Object.keys(extra).length === 0 ? {} : { extra }),
  };
}

function roleInput(
  body: Record<string, unknown>,
  create: boolean,
): { name?: string; description?: string } {
  refuseOther(body, ['name', 'description', 'domain_id', 'options'], 'role');
  if (body.domain_id !== undefined && body.domain_id !== null) {
    throw invalid('role.domain_id', body.domain_id, 'vpmu offers no domain-specific roles');
  }
  checkOptions(body, 'role');
  const name = optionalName(body, 'role', create, 255);
  const description = optionalDescription(body, 'role');
  return { ...(name === undefined ? {} : { name }), ...description };
}

function applicationCredentialInput(
  body: Record<string, unknown>,
): Parameters<typeof createApplicationCredential>[3] {
  const where = 'application_credential';
  refuseOther(
    body,
    ['name', 'description', 'secret', 'expires_at', 'roles', 'unrestricted', 'access_rules'],
    where,
  );
  const name = optionalName(body, where, true, 255) ?? '';
  const secret = body.secret;
  if (secret !== undefined && secret !== null && (typeof secret !== 'string' || secret === '')) {
    throw invalid(`${where}.secret`, '***', 'A non-empty string is required');
  }
  const expires = body.expires_at;
  if (
    expires !== undefined &&
    expires !== null &&
    (typeof expires !== 'string' || Number.isNaN(Date.parse(expires)))
  ) {
    throw invalid(`${where}.expires_at`, expires, 'An ISO 8601 date and time or null is required');
  }
  const unrestricted = body.unrestricted;
  if (unrestricted !== undefined && typeof unrestricted !== 'boolean') {
    throw invalid(`${where}.unrestricted`, unrestricted, 'A boolean is required');
  }
  if (
    body.access_rules !== undefined &&
    !(Array.isArray(body.access_rules) && body.access_rules.length === 0)
  ) {
    throw invalid(`${where}.access_rules`, body.access_rules, 'vpmu offers no access rules');
  }
  const roles = body.roles;
  if (
    roles !== undefined &&
    !(
      Array.isArray(roles) &&
      roles.every(
        (r) =>
          typeof r === 'object' &&
          r !== null &&
          (typeof (r as Record<string, unknown>).id === 'string' ||
            typeof (r as Record<string, unknown>).name === 'string'),
      )
    )
  ) {
    throw invalid(
      `${where}.roles`,
      roles,
      'A list of roles, each with an id or a name, is required',
    );
  }
  return {
    name,
    ...optionalDescription(body, where),
    ...(typeof secret === 'string' ? { secret } : {}),
    ...(typeof expires === 'string' ? { expiresAt: keystoneExpiry(expires) } : {}),
    ...(unrestricted === undefined ? {} : { unrestricted }),
    ...(roles === undefined
      ? {}
      : {
          roles: (roles as Record<string, unknown>[]).map((r) => ({
            ...(typeof r.id === 'string' ? { id: r.id } : {}),
            ...(typeof r.name === 'string' ? { name: r.name } : {}),
          })),
        }),
  };
}

/**
 * An expiry as Keystone keeps and shows it: UTC, microseconds, no zone suffix
 * (`2026-01-01T00:00:00.000000`); what a client sent comes back unchanged.
 */
function keystoneExpiry(text: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(?:Z|[+-]00:?00)?$/u.exec(text);
  if (m !== null) return `${m[1] ?? ''}.${(m[2] ?? '').padEnd(6, '0')}`;
  return new Date(text).toISOString().replace(/\.(\d{3})Z$/u, '.$1000');
}

function optionalName(
  body: Record<string, unknown>,
  where: string,
  required: boolean,
  max: number,
): string | undefined {
  const name = body.name;
  if (name === undefined && !required) return undefined;
  if (typeof name !== 'string' || name.trim() === '' || name.length > max) {
    throw invalid(
      `${where}.name`,
      name,
      `A non-blank string of at most ${max} characters is required`,
    );
  }
  return name;
}

function optionalDescription(
  body: Record<string, unknown>,
  where: string,
): { description?: string } {
  const d = body.description;
  if (d === undefined) return {};
  if (d !== null && typeof d !== 'string') {
    throw invalid(`${where}.description`, d, 'A string or null is required');
  }
  return { description: d ?? '' };
}

function optionalEnabled(body: Record<string, unknown>, where: string): { enabled?: boolean } {
  const e = body.enabled;
  if (e === undefined) return {};
  if (typeof e !== 'boolean') throw invalid(`${where}.enabled`, e, 'A boolean is required');
  return { enabled: e };
}

function checkDomain(body: Record<string, unknown>, where: string, create: boolean): void {
  const d = body.domain_id;
  if (d === undefined || d === DEFAULT_DOMAIN.id || (create && d === null)) return;
  // vpmu has one domain, `default`: any other is one that does not exist.
  if (create && typeof d === 'string') throw notFound('domain', d);
  throw invalid(
    `${where}.domain_id`,
    d,
    create
      ? 'A domain id (a string) is required'
      : 'The domain of an existing object cannot change',
  );
}

function checkOptions(body: Record<string, unknown>, where: string): void {
  const o = body.options;
  if (o === undefined) return;
  if (typeof o !== 'object' || o === null || Array.isArray(o) || Object.keys(o).length > 0) {
    throw invalid(`${where}.options`, o, 'vpmu offers no resource options: {} or nothing');
  }
}

function stringField(body: Record<string, unknown>, key: string, where: string): string {
  const v = body[key];
  if (typeof v !== 'string') throw invalid(`${where}.${key}`, v, 'A string is required');
  return v;
}

function requiredString(body: Record<string, unknown>, key: string, where: string): string {
  const v = body[key];
  if (typeof v !== 'string' || v === '') {
    throw invalid(
      `${where}.${key}`,
      v === undefined ? null : '***',
      'A non-empty string is required',
    );
  }
  return v;
}

function refuseOther(
  body: Record<string, unknown>,
  allowed: readonly string[],
  where: string,
): void {
  const key = Object.keys(body).find((k) => !allowed.includes(k));
  if (key !== undefined) {
    throw invalid(where, key, `Additional properties are not allowed ('${key}' was unexpected)`);
  }
}

function invalid(field: string, value: unknown, why: string): ComputeError {
  return new ComputeError(
    'request.invalid',
    `Invalid input for field/attribute ${field}. Value: ${typeof value === 'string' ? value : JSON.stringify(value ?? null)}. ${why}`,
  );
}

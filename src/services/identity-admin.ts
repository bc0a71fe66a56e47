/**
 * Keystone v3 administration: projects, users, roles, role assignments and application
 * credentials, kept in the store, with Keystone's default policy (`identity:*` rules; vpmu has no
 * system scope, so the admin role on any project stands for Keystone's admin). Every write clears
 * the token cache, so a token of a user who lost a role, was disabled or deleted, or of a project
 * disabled or deleted, stops working at once (validateToken() checks the store's current state).
 */
import { randomBytes } from 'node:crypto';
import { ComputeError } from '../errors/index.js';
import {
  ROLES,
  type ApplicationCredentialRecord,
  type AssignmentFilter,
  type ProjectRecord,
  type RoleAssignment,
  type RoleRecord,
  type UserRecord,
} from '../ports/store.js';
import {
  DEFAULT_DOMAIN,
  hashPassword,
  isAdmin,
  isUnscoped,
  verifyPassword,
  type IdentityDeps,
  type RequestContext,
} from './identity.js';

export type {
  ApplicationCredentialRecord,
  ProjectRecord,
  RoleAssignment,
  RoleRecord,
  UserRecord,
} from '../ports/store.js';

/** Keystone's default policy, as vpmu applies it (see the module comment). */
const POLICY: Record<string, 'admin' | 'admin_or_owner' | 'admin_or_project' | 'owner' | 'any'> = {
  'identity:get_project': 'admin_or_project',
  'identity:list_user_projects': 'admin_or_owner',
  'identity:get_user': 'admin_or_owner',
  'identity:list_groups_for_user': 'admin_or_owner',
  'identity:get_application_credential': 'admin_or_owner',
  'identity:list_application_credentials': 'admin_or_owner',
  'identity:delete_application_credential': 'admin_or_owner',
  'identity:create_application_credential': 'owner',
  'identity:get_domain': 'any',
  'identity:get_region': 'any',
  'identity:list_regions': 'any',
};

/** What a policy rule is checked against. */
export interface PolicyTarget {
  readonly userId?: string;
  readonly projectId?: string;
}

/**
 * Throws `auth.forbidden` unless Keystone's default rule `rule` lets the caller act on `target`.
 * Rules not listed above are `admin_required`.
 */
export function enforce(ctx: RequestContext, rule: string, target: PolicyTarget = {}): void {
  const kind = POLICY[rule] ?? 'admin';
  const owner = target.userId !== undefined && target.userId === ctx.userId;
  const allowed =
    kind === 'any' ||
    (kind === 'owner' && owner) ||
    (kind !== 'owner' && isAdmin(ctx)) ||
    (kind === 'admin_or_owner' && owner) ||
    (kind === 'admin_or_project' &&
      !isUnscoped(ctx) &&
      target.projectId !== undefined &&
      target.projectId === ctx.projectId);
  if (!allowed) {
    // NOTE: Keystone wording (keystone/exception.py ForbiddenAction).
    throw new ComputeError(
      'auth.forbidden',
      `You are not authorized to perform the requested action: ${rule}.`,
    );
  }
}

/** `identity.not_found` in Keystone's words. */
export function notFound(kind: string, id: string): ComputeError {
  // NOTE: Keystone wording (keystone/exception.py ProjectNotFound, UserNotFound, …).
  return new ComputeError('identity.not_found', `Could not find ${kind}: ${id}.`);
}

/** The attributes of a project a client sets on create and update. */
export interface ProjectInput {
  readonly name?: string;
  readonly description?: string;
  readonly enabled?: boolean;
  readonly parentId?: string;
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** The attributes of a user a client sets on create and update. */
export interface UserInput {
  readonly name?: string;
  readonly password?: string | null;
  readonly enabled?: boolean;
  readonly defaultProjectId?: string | null;
  readonly extra?: Readonly<Record<string, unknown>>;
}

export async function getProject(
  deps: IdentityDeps,
  ctx: RequestContext,
  id: string,
): Promise<ProjectRecord> {
  enforce(ctx, 'identity:get_project', { projectId: id });
  const project = await deps.store.getProject(id);
  if (project === undefined) throw notFound('project', id);
  return project;
}

export async function createProject(
  deps: IdentityDeps,
  ctx: RequestContext,
  input: ProjectInput & { readonly name: string },
): Promise<ProjectRecord> {
  enforce(ctx, 'identity:create_project');
  if (input.parentId !== undefined && input.parentId !== DEFAULT_DOMAIN.id) {
    if ((await deps.store.getProject(input.parentId)) === undefined) {
      throw notFound('project', input.parentId);
    }
  }
  const project: ProjectRecord = {
    id: deps.ids.newUuid().replaceAll('-', ''),
    name: input.name,
    domainId: DEFAULT_DOMAIN.id,
    description: input.description ?? '',
    enabled: input.enabled ?? true,
    ...(input.parentId === undefined || input.parentId === DEFAULT_DOMAIN.id
      ? {}
      : { parentId: input.parentId }),
    ...(input.extra === undefined || Object.keys(input.extra).length === 0
      ? {}
      : { extra: input.extra }),
  };
  await deps.store.createProject(project);
  return project;
}

export async function updateProject(
  deps: IdentityDeps,
  ctx: RequestContext,
  id: string,
  input: ProjectInput,
): Promise<ProjectRecord> {
  enforce(ctx, 'identity:update_project', { projectId: id });
  const current = await deps.store.getProject(id);
  if (current === undefined) throw notFound('project', id);
  if (input.parentId !== undefined && input.parentId !== (current.parentId ?? current.domainId)) {
    // NOTE: Keystone refuses to move a project (keystone/resource/core.py).
    throw new ComputeError(
      'request.invalid',
      `Invalid input for field/attribute parent_id. Value: ${input.parentId}. Update of parent_id is not allowed (project ${current.name})`,
    );
  }
  const extra = mergeExtra(current.extra, input.extra);
  const updated: ProjectRecord = {
    ...current,
    ...(input.name === undefined ? {} : { name: input.name }),
    ...(input.description === undefined ? {} : { description: input.description }),
    ...(input.enabled === undefined ? {} : { enabled: input.enabled }),
    ...(extra === undefined ? {} : { extra }),
  };
  if (extra === undefined) delete (updated as { extra?: unknown }).extra;
  await deps.store.updateProject(updated);
  if (current.enabled && !updated.enabled) await deps.store.deleteTokensOf({ projectId: id });
  deps.tokenCache?.clear();
  return updated;
}

/**
 * Deletes a project with its role assignments, tokens and application credentials. A project
 * that still has servers is refused (`project.in_use`, 409), naming them: they run on hosts and
 * hold their resources, and vpmu does not delete tenants' guests behind their back. Its images
 * stay, as Keystone and Glance leave them: data, not running work, which an admin still lists
 * (`--project ID`), hands to another project or deletes.
 */
export async function deleteProject(
  deps: IdentityDeps,
  ctx: RequestContext,
  id: string,
): Promise<void> {
  enforce(ctx, 'identity:delete_project', { projectId: id });
  const project = await deps.store.getProject(id);
  if (project === undefined) throw notFound('project', id);
  const [servers, projects] = await Promise.all([
    deps.store.listServers({ projectId: id }),
    deps.store.listProjects(),
  ]);
  const children = projects.filter((p) => p.parentId === id);
  if (children.length > 0) {
    throw new ComputeError(
      'auth.forbidden',
      `Cannot delete project ${project.name} (${id}): it is the parent of ${children.map((p) => `${p.name} (${p.id})`).join(', ')}; delete those first`,
    );
  }
  if (servers.length > 0) {
    throw new ComputeError(
      'project.in_use',
      `Cannot delete project ${project.name} (${id}): it still has ${count(servers.length, 'server')} (${listed(servers)}). Delete them first.`,
    );
  }
  await deps.store.deleteProject(id);
  deps.tokenCache?.clear();
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function listed(records: readonly { readonly id: string }[]): string {
  const shown = records.slice(0, 5).map((r) => r.id);
  return records.length > 5 ? `${shown.join(', ')}, …` : shown.join(', ');
}

export async function getUser(
  deps: IdentityDeps,
  ctx: RequestContext,
  id: string,
): Promise<UserRecord> {
  enforce(ctx, 'identity:get_user', { userId: id });
  const user = await deps.store.getUser(id);
  if (user === undefined) throw notFound('user', id);
  return user;
}

export async function createUser(
  deps: IdentityDeps,
  ctx: RequestContext,
  input: UserInput & { readonly name: string },
): Promise<UserRecord> {
  enforce(ctx, 'identity:create_user');
  await requireProject(deps, input.defaultProjectId);
  const user: UserRecord = {
    id: deps.ids.newUuid().replaceAll('-', ''),
    name: input.name,
    domainId: DEFAULT_DOMAIN.id,
    // No password: no password login (Keystone keeps none; nothing matches this hash).
    passwordHash: typeof input.password === 'string' ? await hashPassword(input.password) : 'none',
    enabled: input.enabled ?? true,
    ...(typeof input.defaultProjectId === 'string'
      ? { defaultProjectId: input.defaultProjectId }
      : {}),
    ...(input.extra === undefined || Object.keys(input.extra).length === 0
      ? {}
      : { extra: input.extra }),
  };
  await deps.store.createUser(user);
  return user;
}

export async function updateUser(
  deps: IdentityDeps,
  ctx: RequestContext,
  id: string,
  input: UserInput,
): Promise<UserRecord> {
  enforce(ctx, 'identity:update_user', { userId: id });
  const current = await deps.store.getUser(id);
  if (current === undefined) throw notFound('user', id);
  await requireProject(deps, input.defaultProjectId);
  const extra = mergeExtra(current.extra, input.extra);
  const rest: UserRecord = {
    id: current.id,
    name: current.name,
    domainId: current.domainId,
    passwordHash: current.passwordHash,
    enabled: current.enabled,
  };
  const defaultProjectId =
    input.defaultProjectId === undefined ? current.defaultProjectId : input.defaultProjectId;
  const updated: UserRecord = {
    ...rest,
    ...(input.name === undefined ? {} : { name: input.name }),
    ...(input.enabled === undefined ? {} : { enabled: input.enabled }),
    ...(input.password === undefined
      ? {}
      : {
          passwordHash: input.password === null ? 'none' : await hashPassword(input.password),
        }),
    ...(defaultProjectId === undefined || defaultProjectId === null ? {} : { defaultProjectId }),
    ...(extra === undefined ? {} : { extra }),
  };
  await deps.store.updateUser(updated);
  // Keystone revokes a user's tokens when the user is disabled or its password changes.
  if ((current.enabled && !updated.enabled) || input.password !== undefined) {
    await deps.store.deleteTokensOf({ userId: id });
  }
  deps.tokenCache?.clear();
  return updated;
}

export async function deleteUser(
  deps: IdentityDeps,
  ctx: RequestContext,
  id: string,
): Promise<void> {
  enforce(ctx, 'identity:delete_user', { userId: id });
  if (!(await deps.store.deleteUser(id))) throw notFound('user', id);
  deps.tokenCache?.clear();
}

/**
 * A user changes its own password, proving the original one (Keystone's
 * `POST /v3/users/{user_id}/password`, which needs no token). Revokes the user's tokens.
 */
export async function changePassword(
  deps: IdentityDeps,
  userId: string,
  original: string,
  password: string,
): Promise<void> {
  const user = await deps.store.getUser(userId);
  if (user === undefined || !(await verifyPassword(original, user.passwordHash))) {
    // NOTE: Keystone wording (keystone/exception.py Unauthorized).
    throw new ComputeError(
      'auth.unauthorized',
      'The request you have made requires authentication.',
    );
  }
  await deps.store.setPassword(userId, await hashPassword(password));
  await deps.store.deleteTokensOf({ userId });
  deps.tokenCache?.clear();
}

/** The projects a user holds any role on, sorted by name. */
export async function userProjects(deps: IdentityDeps, userId: string): Promise<ProjectRecord[]> {
  const assignments = await deps.store.listAssignments({ userId });
  const ids = new Set(assignments.map((a) => a.projectId));
  return (await deps.store.listProjects()).filter((p) => ids.has(p.id));
}

export async function findRoleByIdOrName(
  deps: IdentityDeps,
  ref: { readonly id?: string; readonly name?: string },
): Promise<RoleRecord> {
  const role =
    ref.id !== undefined
      ? await deps.store.getRole(ref.id)
      : ref.name !== undefined
        ? await deps.store.findRole(ref.name)
        : undefined;
  if (role === undefined) throw notFound('role', ref.id ?? ref.name ?? '');
  return role;
}

export async function createRole(
  deps: IdentityDeps,
  ctx: RequestContext,
  input: { readonly name: string; readonly description?: string },
): Promise<RoleRecord> {
  enforce(ctx, 'identity:create_role');
  const role: RoleRecord = {
    id: deps.ids.newUuid().replaceAll('-', ''),
    name: input.name,
    description: input.description ?? '',
  };
  await deps.store.createRole(role);
  return role;
}

export async function updateRole(
  deps: IdentityDeps,
  ctx: RequestContext,
  id: string,
  input: { readonly name?: string; readonly description?: string },
): Promise<RoleRecord> {
  enforce(ctx, 'identity:update_role');
  const current = await deps.store.getRole(id);
  if (current === undefined) throw notFound('role', id);
  if (input.name !== undefined && input.name !== current.name && isBuiltIn(current)) {
    throw builtInRole(current, 'rename');
  }
  const updated = { ...current, ...input };
  await deps.store.updateRole(updated);
  return updated;
}

export async function deleteRole(
  deps: IdentityDeps,
  ctx: RequestContext,
  id: string,
): Promise<void> {
  enforce(ctx, 'identity:delete_role');
  const role = await deps.store.getRole(id);
  if (role === undefined) throw notFound('role', id);
  if (isBuiltIn(role)) throw builtInRole(role, 'delete');
  await deps.store.deleteRole(id);
  deps.tokenCache?.clear();
}

function isBuiltIn(role: RoleRecord): boolean {
  return (ROLES as readonly string[]).includes(role.id);
}

function builtInRole(role: RoleRecord, action: string): ComputeError {
  return new ComputeError(
    'auth.forbidden',
    `Cannot ${action} role ${role.name}: vpmu's policy is built on the admin, member and reader roles`,
  );
}

/** Checks that the project, the user and the role of a grant exist. */
async function grantParts(
  deps: IdentityDeps,
  projectId: string,
  userId: string,
  roleId: string,
): Promise<void> {
  const [project, user, role] = await Promise.all([
    deps.store.getProject(projectId),
    deps.store.getUser(userId),
    deps.store.getRole(roleId),
  ]);
  if (project === undefined) throw notFound('project', projectId);
  if (user === undefined) throw notFound('user', userId);
  if (role === undefined) throw notFound('role', roleId);
}

export async function grantRole(
  deps: IdentityDeps,
  ctx: RequestContext,
  grant: RoleAssignment,
): Promise<void> {
  enforce(ctx, 'identity:create_grant');
  await grantParts(deps, grant.projectId, grant.userId, grant.role);
  await deps.store.assignRole(grant);
  deps.tokenCache?.clear();
}

export async function checkGrant(
  deps: IdentityDeps,
  ctx: RequestContext,
  grant: RoleAssignment,
): Promise<void> {
  enforce(ctx, 'identity:check_grant');
  await grantParts(deps, grant.projectId, grant.userId, grant.role);
  const found = await deps.store.listAssignments({
    userId: grant.userId,
    projectId: grant.projectId,
    roleId: grant.role,
  });
  if (found.length === 0) throw noGrant(grant);
}

/** Revokes a grant; the user's tokens on that project stop working at once. */
export async function revokeGrant(
  deps: IdentityDeps,
  ctx: RequestContext,
  grant: RoleAssignment,
): Promise<void> {
  enforce(ctx, 'identity:revoke_grant');
  await grantParts(deps, grant.projectId, grant.userId, grant.role);
  if (!(await deps.store.unassignRole(grant))) throw noGrant(grant);
  await deps.store.deleteTokensOf({ userId: grant.userId, projectId: grant.projectId });
  deps.tokenCache?.clear();
}

function noGrant(grant: RoleAssignment): ComputeError {
  // NOTE: Keystone wording (keystone/exception.py RoleAssignmentNotFound).
  return new ComputeError(
    'identity.not_found',
    `Could not find role assignment with role: ${grant.role}, user or group: ${grant.userId}, project, domain, or system: ${grant.projectId}.`,
  );
}

/** The role records a user holds on a project. */
export async function grantsOf(
  deps: IdentityDeps,
  ctx: RequestContext,
  projectId: string,
  userId: string,
): Promise<RoleRecord[]> {
  enforce(ctx, 'identity:list_grants');
  const [project, user] = await Promise.all([
    deps.store.getProject(projectId),
    deps.store.getUser(userId),
  ]);
  if (project === undefined) throw notFound('project', projectId);
  if (user === undefined) throw notFound('user', userId);
  return rolesOf(deps, await deps.store.listAssignments({ userId, projectId }));
}

async function rolesOf(
  deps: IdentityDeps,
  assignments: readonly RoleAssignment[],
): Promise<RoleRecord[]> {
  const all = new Map((await deps.store.listRoleRecords()).map((r) => [r.id, r]));
  return assignments.map((a) => all.get(a.role)).filter((r): r is RoleRecord => r !== undefined);
}

export async function listAssignments(
  deps: IdentityDeps,
  ctx: RequestContext,
  filter: AssignmentFilter,
): Promise<RoleAssignment[]> {
  enforce(ctx, 'identity:list_role_assignments');
  return deps.store.listAssignments(filter);
}

/** An application credential as created: the record and its secret, shown this once. */
export interface CreatedCredential {
  readonly credential: ApplicationCredentialRecord;
  readonly secret: string;
}

export async function createApplicationCredential(
  deps: IdentityDeps,
  ctx: RequestContext,
  userId: string,
  input: {
    readonly name: string;
    readonly description?: string;
    readonly secret?: string;
    readonly expiresAt?: string | null;
    readonly unrestricted?: boolean;
    readonly roles?: readonly { readonly id?: string; readonly name?: string }[];
  },
): Promise<CreatedCredential> {
  enforce(ctx, 'identity:create_application_credential', { userId });
  if (isUnscoped(ctx)) {
    throw new ComputeError(
      'auth.forbidden',
      'Cannot create an application credential with an unscoped token: scope the token to the project the credential is for',
    );
  }
  if (ctx.applicationCredential?.restricted === true) {
    // NOTE: Keystone refuses this unless the credential in use is unrestricted.
    throw new ComputeError(
      'auth.forbidden',
      `You are not authorized to perform the requested action: identity:create_application_credential (application credential ${ctx.applicationCredential.name} is restricted).`,
    );
  }
  const held = await deps.store.listAssignments({ userId, projectId: ctx.projectId });
  const heldIds = new Set(held.map((a) => a.role));
  const tokenRoles = await Promise.all(ctx.roles.map((name) => findRoleByIdOrName(deps, { name })));
  const roles =
    input.roles === undefined || input.roles.length === 0
      ? tokenRoles
      : await Promise.all(input.roles.map((ref) => findRoleByIdOrName(deps, ref)));
  for (const role of roles) {
    if (!heldIds.has(role.id)) {
      // NOTE: Keystone wording (keystone/exception.py RoleAssignmentNotFound).
      throw new ComputeError(
        'identity.not_found',
        `Could not find role assignment with role: ${role.id}, user or group: ${userId}, project, domain, or system: ${ctx.projectId}.`,
      );
    }
  }
  const secret = input.secret ?? randomBytes(48).toString('base64url');
  const credential: ApplicationCredentialRecord = {
    id: deps.ids.newUuid().replaceAll('-', ''),
    name: input.name,
    userId,
    projectId: ctx.projectId,
    description: input.description ?? '',
    secretHash: await hashPassword(secret),
    expiresAt: input.expiresAt ?? null,
    unrestricted: input.unrestricted ?? false,
    roleIds: [...new Set(roles.map((r) => r.id))],
  };
  await deps.store.createApplicationCredential(credential);
  return { credential, secret };
}

export async function getApplicationCredential(
  deps: IdentityDeps,
  ctx: RequestContext,
  userId: string,
  id: string,
): Promise<ApplicationCredentialRecord> {
  enforce(ctx, 'identity:get_application_credential', { userId });
  const credential = await deps.store.getApplicationCredential(id);
  if (credential?.userId !== userId) throw notFound('application credential', id);
  return credential;
}

export async function listApplicationCredentials(
  deps: IdentityDeps,
  ctx: RequestContext,
  userId: string,
): Promise<ApplicationCredentialRecord[]> {
  enforce(ctx, 'identity:list_application_credentials', { userId });
  if ((await deps.store.getUser(userId)) === undefined) throw notFound('user', userId);
  return deps.store.listApplicationCredentials(userId);
}

export async function deleteApplicationCredential(
  deps: IdentityDeps,
  ctx: RequestContext,
  userId: string,
  id: string,
): Promise<void> {
  enforce(ctx, 'identity:delete_application_credential', { userId });
  const credential = await deps.store.getApplicationCredential(id);
  if (credential?.userId !== userId) throw notFound('application credential', id);
  await deps.store.deleteApplicationCredential(id);
  deps.tokenCache?.clear();
}

async function requireProject(
  deps: IdentityDeps,
  projectId: string | null | undefined,
): Promise<void> {
  if (typeof projectId !== 'string') return;
  if ((await deps.store.getProject(projectId)) === undefined) throw notFound('project', projectId);
}

/** Keystone's PATCH of extra attributes: the given keys replace their values. */
function mergeExtra(
  current: Readonly<Record<string, unknown>> | undefined,
  patch: Readonly<Record<string, unknown>> | undefined,
): Record<string, unknown> | undefined {
  const merged: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(patch ?? {})) merged[key] = value;
  return Object.keys(merged).length === 0 ? undefined : merged;
}

/**
 * Identity use cases (a Keystone v3 subset): authentication (password, token, application
 * credential) scoped to a project or unscoped, token validation against the store's current
 * state, and bootstrapping users, projects and roles from configuration. Passwords and
 * application credential secrets are stored as scrypt hashes; tokens as SHA-256 digests.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { ComputeError } from '../errors/index.js';
import type { Clock, Ids } from '../ports/clock.js';
import type {
  ApplicationCredentialRecord,
  LoginFailures,
  ProjectRecord,
  Role,
  Store,
  UserRecord,
} from '../ports/store.js';

export { ROLES, type Role } from '../ports/store.js';

const scryptAsync = promisify(scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
) => Promise<Buffer>;

/** The one domain vpmu has, as Keystone names it. */
export const DEFAULT_DOMAIN = { id: 'default', name: 'Default' } as const;

/** Who is calling, established from a valid token. Every use case takes one. */
export interface RequestContext {
  readonly userId: string;
  readonly userName: string;
  readonly projectId: string;
  readonly projectName: string;
  readonly roles: readonly Role[];
  readonly token: {
    readonly issuedAt: string;
    readonly expiresAt: string;
    readonly auditId: string;
  };
  /** How the token was obtained; absent means `["password"]`. */
  readonly methods?: readonly string[];
  /** The application credential the token was issued for. */
  readonly applicationCredential?: {
    readonly id: string;
    readonly name: string;
    readonly restricted: boolean;
  };
}

/** True for a token scoped to no project (projectId is then ''). */
export function isUnscoped(ctx: RequestContext): boolean {
  return ctx.projectId === '';
}

/** What identity use cases need. */
export interface IdentityDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly ids: Ids;
  /** Lifetime of issued tokens. @default 3600 */
  readonly tokenTtlSeconds: number;
  /** Tokens already validated; without one, every request reads the store. */
  readonly tokenCache?: TokenCache;
}

/** Keystone's `[security_compliance]` lockout; either number 0 turns it off. */
export interface LockoutPolicy {
  /** Failed password logins in a row that lock an account (`lockout_failure_attempts`). */
  readonly failureAttempts: number;
  /**
   * Seconds an account stays locked after its last failure (`lockout_duration`). Failures older
   * than this are forgotten, so only failures within this window count towards a lock.
   */
  readonly durationSeconds: number;
}

/** What password authentication needs besides the identity deps. */
export interface AuthenticationDeps extends IdentityDeps {
  readonly lockout: LockoutPolicy;
}

/**
 * Contexts of validated tokens by digest, so a request costs no store reads (keystonemiddleware
 * caches validations the same way). Only right while this process is the only writer of users,
 * projects, roles and tokens: every identity write clears it (clear()) and revokeToken() evicts,
 * so a revoked role, a disabled user or a deleted project take effect at once. Expiry is still
 * checked on every use. Bounded; the oldest entry goes first. Never used on a store other
 * processes write (Store.sharedWithOtherProcesses): a revocation through another process would
 * not clear it, so there every validation reads the store (createApi() decides).
 */
export class TokenCache {
  readonly #entries = new Map<string, RequestContext>();
  readonly #limit: number;

  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  get(digest: string): RequestContext | undefined {
    return this.#entries.get(digest);
  }

  set(digest: string, context: RequestContext): void {
    if (this.#entries.size >= this.#limit && !this.#entries.has(digest)) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(digest, context);
  }

  delete(digest: string): void {
    this.#entries.delete(digest);
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** A password-auth request, already shape-checked by the API. */
export interface PasswordAuth {
  readonly user: {
    readonly id?: string;
    readonly name?: string;
    readonly domain?: KeystoneDomainRef;
  };
  readonly password: string;
  readonly project: {
    readonly id?: string;
    readonly name?: string;
    readonly domain?: KeystoneDomainRef;
  };
}

/** A domain by id or by name. */
export interface KeystoneDomainRef {
  readonly id?: string;
  readonly name?: string;
}

/** An issued token: its text (given to the client once) and the context it carries. */
export interface IssuedToken {
  readonly text: string;
  readonly context: RequestContext;
}

// NOTE: Keystone wording (keystone/exception.py Unauthorized).
const UNAUTHORIZED = 'The request you have made requires authentication.';

/** True when the caller holds the admin role on its project. */
export function isAdmin(ctx: RequestContext): boolean {
  return ctx.roles.includes('admin');
}

/** Throws `auth.forbidden` unless the caller may change things (admin or member). */
export function requireWriter(ctx: RequestContext, action: string): void {
  if (!ctx.roles.includes('admin') && !ctx.roles.includes('member')) {
    throw new ComputeError(
      'auth.forbidden',
      `Cannot ${action}: project ${ctx.projectName} grants user ${ctx.userName} only the reader role`,
    );
  }
}

/** Throws `auth.forbidden` unless the caller is an admin; `rule` is Nova's policy name. */
export function requireAdmin(ctx: RequestContext, rule: string): void {
  if (!isAdmin(ctx)) {
    // NOTE: Nova wording (nova/exception.py PolicyNotAuthorized).
    throw new ComputeError('auth.forbidden', `Policy doesn't allow ${rule} to be performed.`);
  }
}

/** A user named by id, or by name in a domain. */
export type UserRef = PasswordAuth['user'];
/** A project named by id, or by name in a domain. */
export type ProjectRef = PasswordAuth['project'];

/** How a client proves who it is (Keystone's auth methods vpmu offers). */
export type AuthMethod =
  | { readonly kind: 'password'; readonly user: UserRef; readonly password: string }
  | { readonly kind: 'token'; readonly token: string }
  | {
      readonly kind: 'application_credential';
      readonly id?: string;
      readonly name?: string;
      readonly user?: UserRef;
      readonly secret: string;
    };

/** An authentication request; without a project, the token is unscoped (or, like Keystone, scoped to the user's default project). */
export interface AuthRequest {
  readonly method: AuthMethod;
  readonly project?: ProjectRef;
}

/**
 * Checks a password against a project-scoped request and issues a token. An unknown user costs the
 * same work as a wrong password (a check against a dummy hash, one failure counted), so the answer
 * and its timing do not tell whether a user name exists; the lockout treats both alike too.
 */
export async function authenticatePassword(
  deps: AuthenticationDeps,
  auth: PasswordAuth,
): Promise<IssuedToken> {
  return authenticate(deps, {
    method: { kind: 'password', user: auth.user, password: auth.password },
    project: auth.project,
  });
}

/** Authenticates with any method and issues a token scoped as asked (see AuthRequest). */
export async function authenticate(
  deps: AuthenticationDeps,
  request: AuthRequest,
): Promise<IssuedToken> {
  const method = request.method;
  if (method.kind === 'password') {
    const user = await checkPassword(deps, method.user, method.password);
    return scopeAndIssue(deps, user, request.project, { methods: ['password'] });
  }
  if (method.kind === 'token') {
    const previous = await validateToken(deps, method.token, { allowUnscoped: true });
    if (previous.applicationCredential !== undefined) {
      // NOTE: Keystone refuses to rescope application credential tokens too.
      throw new ComputeError(
        'auth.forbidden',
        'Cannot rescope a token issued for an application credential.',
      );
    }
    const user = await readIdentity(() => deps.store.getUser(previous.userId));
    if (user === undefined) throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
    return scopeAndIssue(deps, user, request.project, {
      methods: [...new Set([...(previous.methods ?? ['password']), 'token'])],
      expiresAt: previous.token.expiresAt,
      auditChain: previous.token.auditId,
    });
  }
  return authenticateApplicationCredential(deps, method, request.project);
}

async function checkPassword(
  deps: AuthenticationDeps,
  ref: UserRef,
  password: string,
): Promise<UserRecord> {
  const user = await readIdentity(() => findUser(deps.store, ref));
  const subject = user?.id ?? unknownUserSubject(ref);
  const failures = await refuseWhileLocked(deps, subject, ref);
  const passwordRight = await verifyPassword(
    password,
    user?.passwordHash ?? (await dummyPasswordHash()),
  );
  if (user === undefined || !passwordRight) {
    if (lockoutEnabled(deps.lockout)) {
      const now = deps.clock.now();
      // Fails closed: a failure that cannot be counted is a 503, not a free guess.
      await readIdentity(() =>
        deps.store.recordLoginFailure(
          subject,
          now.toISOString(),
          new Date(now.getTime() - deps.lockout.durationSeconds * 1000).toISOString(),
        ),
      );
    }
    throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
  }
  if (failures !== undefined) await readIdentity(() => deps.store.clearLoginFailures(subject));
  return user;
}

async function authenticateApplicationCredential(
  deps: AuthenticationDeps,
  method: Extract<AuthMethod, { kind: 'application_credential' }>,
  scope: ProjectRef | undefined,
): Promise<IssuedToken> {
  let credential: ApplicationCredentialRecord | undefined;
  if (method.id !== undefined) {
    credential = await readIdentity(() => deps.store.getApplicationCredential(method.id ?? ''));
  } else if (method.name !== undefined && method.user !== undefined) {
    const owner = await readIdentity(() => findUser(deps.store, method.user ?? {}));
    if (owner !== undefined) {
      const all = await readIdentity(() => deps.store.listApplicationCredentials(owner.id));
      credential = all.find((c) => c.name === method.name);
    }
  }
  const secretRight = await verifyPassword(
    method.secret,
    credential?.secretHash ?? (await dummyPasswordHash()),
  );
  const now = deps.clock.now().toISOString();
  const expiry = credential?.expiresAt == null ? undefined : utcIso(credential.expiresAt);
  if (credential === undefined || !secretRight || (expiry !== undefined && expiry <= now)) {
    throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
  }
  if (scope !== undefined) {
    const asked = await readIdentity(() => findProject(deps.store, scope));
    if (asked?.id !== credential.projectId) {
      // NOTE: Keystone wording (keystone/auth/plugins/application_credential.py).
      throw new ComputeError(
        'auth.unauthorized',
        'Application credentials cannot request a scope.',
      );
    }
  }
  const user = await readIdentity(() => deps.store.getUser(credential.userId));
  if (user === undefined) throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
  const roleNames = await credentialRoleNames(deps.store, credential);
  if (roleNames === undefined) throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
  return scopeAndIssue(
    deps,
    user,
    { id: credential.projectId },
    {
      methods: ['application_credential'],
      applicationCredential: {
        id: credential.id,
        name: credential.name,
        restricted: !credential.unrestricted,
      },
      roles: roleNames,
      ...(expiry === undefined ? {} : { expiresAt: expiry }),
    },
  );
}

/**
 * The names of the roles an application credential carries, or undefined when its user no
 * longer holds one of them on its project (Keystone then refuses the credential).
 */
async function credentialRoleNames(
  store: Store,
  credential: ApplicationCredentialRecord,
): Promise<string[] | undefined> {
  const held = await readIdentity(() =>
    store.listAssignments({ userId: credential.userId, projectId: credential.projectId }),
  );
  const heldIds = new Set(held.map((a) => a.role));
  if (!credential.roleIds.every((id) => heldIds.has(id))) return undefined;
  const names: string[] = [];
  for (const id of credential.roleIds) {
    const role = await readIdentity(() => store.getRole(id));
    if (role !== undefined) names.push(role.name);
  }
  return names;
}

interface IssueOptions {
  readonly methods: readonly string[];
  /** The latest expiry (a rescoped token keeps its original's, an application credential's). */
  readonly expiresAt?: string;
  readonly auditChain?: string;
  readonly applicationCredential?: RequestContext['applicationCredential'];
  /** The roles to carry instead of all the user's roles on the project. */
  readonly roles?: readonly string[];
}

/** Resolves the scope, checks the user may have it, and issues the token. */
async function scopeAndIssue(
  deps: AuthenticationDeps,
  user: UserRecord,
  scope: ProjectRef | undefined,
  options: IssueOptions,
): Promise<IssuedToken> {
  if (!user.enabled) throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
  let project: ProjectRecord | undefined;
  let roles: readonly string[] = [];
  if (scope !== undefined) {
    project = await readIdentity(() => findProject(deps.store, scope));
    if (!project?.enabled) throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
    roles =
      options.roles ?? (await readIdentity(() => deps.store.listRoles(user.id, project?.id ?? '')));
    if (roles.length === 0) {
      throw new ComputeError(
        'auth.unauthorized',
        `User ${user.id} has no access to project ${project.id}`, // NOTE: Keystone wording
      );
    }
  } else if (user.defaultProjectId !== undefined) {
    // Keystone scopes an unscoped request to the default project when the user has a role there.
    const fallback = await readIdentity(() => deps.store.getProject(user.defaultProjectId ?? ''));
    const held =
      fallback?.enabled === true
        ? await readIdentity(() => deps.store.listRoles(user.id, fallback.id))
        : [];
    if (held.length > 0) {
      project = fallback;
      roles = held;
    }
  }
  const now = deps.clock.now();
  const issuedAt = now.toISOString();
  let expiresAt = new Date(now.getTime() + deps.tokenTtlSeconds * 1000).toISOString();
  if (options.expiresAt !== undefined && options.expiresAt < expiresAt)
    expiresAt = options.expiresAt;
  const text = deps.ids.newSecret();
  const auditId = digest(`audit:${text}`).slice(0, 22);
  const methods = options.methods;
  await readIdentity(() =>
    deps.store.putToken({
      id: digest(text),
      userId: user.id,
      projectId: project?.id ?? '',
      roles,
      issuedAt,
      expiresAt,
      auditId,
      ...(methods.length === 1 && methods[0] === 'password' ? {} : { methods }),
      ...(options.applicationCredential === undefined
        ? {}
        : { applicationCredentialId: options.applicationCredential.id }),
    }),
  );
  return {
    text,
    context: {
      userId: user.id,
      userName: user.name,
      projectId: project?.id ?? '',
      projectName: project?.name ?? '',
      roles,
      token: { issuedAt, expiresAt, auditId },
      methods,
      ...(options.applicationCredential === undefined
        ? {}
        : { applicationCredential: options.applicationCredential }),
    },
  };
}

/** What validateToken() accepts besides project-scoped tokens. */
export interface ValidateOptions {
  /** Accept unscoped tokens (identity's own routes do; compute, image and placement do not). */
  readonly allowUnscoped?: boolean;
}

/**
 * The context a token carries; `auth.unauthorized` when it is unknown or expired, when its user
 * or project is gone or disabled, when its user no longer holds one of its roles on its project,
 * or when its application credential is gone; and `auth.unavailable` (503) when the store cannot
 * be read: an outage must not tell a client that its token is gone.
 */
export async function validateToken(
  deps: IdentityDeps,
  text: string | undefined,
  options: ValidateOptions = {},
): Promise<RequestContext> {
  if (text === undefined || text === '') throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
  const id = digest(text);
  const now = deps.clock.now().toISOString();
  const cached = deps.tokenCache?.get(id);
  if (cached !== undefined && cached.token.expiresAt > now) {
    return refuseUnscoped(cached, options);
  }
  const state = await readIdentity(() => deps.store.getTokenState(id));
  if (state === undefined) throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
  const { token, user, project, heldRoles: held, applicationCredential: credential } = state;
  if (token.expiresAt <= now) {
    await readIdentity(() => deps.store.deleteExpiredTokens(now));
    // NOTE: Keystone wording (keystone/exception.py TokenNotFound).
    throw new ComputeError(
      'auth.unauthorized',
      `The token has expired: it expired at ${token.expiresAt}.`,
    );
  }
  const scopeValid =
    token.projectId === '' ||
    (project?.enabled === true && token.roles.every((role) => held.includes(role)));
  const credentialValid = token.applicationCredentialId === undefined || credential !== undefined;
  if (user === undefined || !user.enabled || !scopeValid || !credentialValid) {
    throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
  }
  const context: RequestContext = {
    userId: user.id,
    userName: user.name,
    projectId: project?.id ?? '',
    projectName: project?.name ?? '',
    roles: token.roles,
    token: { issuedAt: token.issuedAt, expiresAt: token.expiresAt, auditId: token.auditId },
    ...(token.methods === undefined ? {} : { methods: token.methods }),
    ...(credential === undefined
      ? {}
      : {
          applicationCredential: {
            id: credential.id,
            name: credential.name,
            restricted: !credential.unrestricted,
          },
        }),
  };
  deps.tokenCache?.set(id, context);
  return refuseUnscoped(context, options);
}

function refuseUnscoped(context: RequestContext, options: ValidateOptions): RequestContext {
  if (isUnscoped(context) && options.allowUnscoped !== true) {
    // keystonemiddleware refuses unscoped tokens for services other than Keystone.
    throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
  }
  return context;
}

/**
 * Revokes a token. Users revoke their own tokens; admins any. `auth.token_not_found` when the
 * token is unknown or expired.
 */
export async function revokeToken(
  deps: IdentityDeps,
  caller: RequestContext,
  text: string | undefined,
): Promise<void> {
  const subject = await validateSubjectToken(deps, text);
  if (!isAdmin(caller) && caller.userId !== subject.userId) {
    throw new ComputeError(
      'auth.forbidden',
      `Cannot revoke a token of user ${subject.userName}: only admins revoke other users' tokens`,
    );
  }
  const id = digest(text ?? '');
  deps.tokenCache?.delete(id);
  await deps.store.deleteToken(id);
}

/**
 * The context of a token named by a client (X-Subject-Token); `auth.token_not_found` only when the
 * token is unknown or expired. Any other failure (a store outage) passes through as it is.
 */
export async function validateSubjectToken(
  deps: IdentityDeps,
  text: string | undefined,
): Promise<RequestContext> {
  try {
    return await validateToken(deps, text, { allowUnscoped: true });
  } catch (error) {
    if (error instanceof ComputeError && error.code === 'auth.unauthorized') {
      // NOTE: Keystone wording (keystone/exception.py TokenNotFound).
      throw new ComputeError('auth.token_not_found', `Could not find token: ${text ?? ''}.`);
    }
    throw error;
  }
}

/** Looks a project up by id, for views. */
export async function showProject(
  deps: IdentityDeps,
  id: string,
): Promise<ProjectRecord | undefined> {
  return deps.store.getProject(id);
}

/** Users and projects to make sure exist at start, from configuration. */
export interface IdentitySeed {
  readonly projects: readonly { readonly name: string; readonly description?: string }[];
  readonly users: readonly {
    readonly name: string;
    readonly password: string;
    readonly project: string;
    readonly roles: readonly Role[];
  }[];
}

/**
 * Makes sure the admin user, project and roles exist (the password is set to `adminPassword`, as
 * `keystone-manage bootstrap` does), then, on the first start only (no admin user yet), seeds the
 * configured projects and users. Later starts leave the store's projects and users alone, so what
 * administrators changed through the API stands; the names of seed entries the store lacks are
 * returned, for a warning. Processes that start together on one empty store may all run it: a
 * create another made first counts as done.
 */
export async function bootstrapIdentity(
  deps: IdentityDeps,
  adminPassword: string,
  seed: IdentitySeed,
): Promise<{ readonly notSeeded: readonly string[] }> {
  const firstStart = (await deps.store.findUser('admin', DEFAULT_DOMAIN.id)) === undefined;
  const projects = [
    { name: 'admin', description: 'Bootstrap project for initializing the cloud.' },
    ...(firstStart ? seed.projects : []),
  ];
  for (const project of projects) {
    if ((await deps.store.findProject(project.name, DEFAULT_DOMAIN.id)) !== undefined) continue;
    await deps.store
      .createProject({
        id: deps.ids.newUuid().replaceAll('-', ''),
        name: project.name,
        domainId: DEFAULT_DOMAIN.id,
        description: project.description ?? '',
        enabled: true,
      })
      .catch(madeMeanwhile);
  }
  const users = [
    {
      name: 'admin',
      password: adminPassword,
      project: 'admin',
      roles: ['admin', 'member', 'reader'] as const,
    },
    ...(firstStart ? seed.users : []),
  ];
  for (const spec of users) {
    const project = await deps.store.findProject(spec.project, DEFAULT_DOMAIN.id);
    if (project === undefined) {
      throw new ComputeError(
        'input.invalid',
        `Cannot bootstrap user "${spec.name}": project "${spec.project}" is not configured`,
      );
    }
    const hash = await hashPassword(spec.password);
    let user: UserRecord | undefined = await deps.store.findUser(spec.name, DEFAULT_DOMAIN.id);
    if (user === undefined) {
      user = {
        id: deps.ids.newUuid().replaceAll('-', ''),
        name: spec.name,
        domainId: DEFAULT_DOMAIN.id,
        passwordHash: hash,
        enabled: true,
      };
      const made = await deps.store.createUser(user).then(() => true, madeMeanwhile);
      // Another process starting on the same database made it first: use theirs.
      if (!made) user = await deps.store.findUser(spec.name, DEFAULT_DOMAIN.id);
      if (user === undefined) throw new TypeError(`user ${spec.name} vanished at bootstrap`);
      if (!made && !(await verifyPassword(spec.password, user.passwordHash))) {
        await deps.store.setPassword(user.id, hash);
      }
    } else if (!(await verifyPassword(spec.password, user.passwordHash))) {
      await deps.store.setPassword(user.id, hash);
    }
    for (const role of spec.roles) {
      await deps.store.assignRole({ userId: user.id, projectId: project.id, role });
    }
  }
  const notSeeded: string[] = [];
  if (!firstStart) {
    for (const project of seed.projects) {
      if ((await deps.store.findProject(project.name, DEFAULT_DOMAIN.id)) === undefined) {
        notSeeded.push(`project ${project.name}`);
      }
    }
    for (const user of seed.users) {
      if ((await deps.store.findUser(user.name, DEFAULT_DOMAIN.id)) === undefined) {
        notSeeded.push(`user ${user.name}`);
      }
    }
  }
  deps.tokenCache?.clear();
  return { notSeeded };
}

/**
 * For a bootstrap create that another process, starting on the same database, beat: false when
 * it made the record first (`identity.conflict`), else the error again.
 */
function madeMeanwhile(error: unknown): false {
  if (error instanceof ComputeError && error.code === 'identity.conflict') return false;
  throw error;
}

/** An scrypt hash: `scrypt$<salt b64>$<key b64>`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, 32);
  return `scrypt$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Checks a password against a hash from hashPassword(), in constant time. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const [scheme, salt, key] = hash.split('$');
  if (scheme !== 'scrypt' || salt === undefined || key === undefined) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length);
  return timingSafeEqual(actual, expected);
}

/** Runs identity's store calls; a failure of the store itself becomes `auth.unavailable`. */
async function readIdentity<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof ComputeError) throw error;
    // NOTE: keystonemiddleware's wording when it cannot validate tokens (a 503).
    throw new ComputeError('auth.unavailable', 'The Keystone service is temporarily unavailable.', {
      cause: error,
    });
  }
}

function lockoutEnabled(policy: LockoutPolicy): boolean {
  return policy.failureAttempts > 0 && policy.durationSeconds > 0;
}

/**
 * Throws `auth.account_locked` while `subject` has failed `failureAttempts` times in a row within
 * `durationSeconds`; the password is not looked at, so a locked answer says nothing about it.
 * Returns the failures counted so far (undefined when none or when lockout is off).
 */
async function refuseWhileLocked(
  deps: AuthenticationDeps,
  subject: string,
  ref: PasswordAuth['user'],
): Promise<LoginFailures | undefined> {
  if (!lockoutEnabled(deps.lockout)) return undefined;
  const failures = await readIdentity(() => deps.store.getLoginFailures(subject));
  if (failures === undefined) return undefined;
  const lockedUntil = Date.parse(failures.lastFailureAt) + deps.lockout.durationSeconds * 1000;
  if (failures.count >= deps.lockout.failureAttempts && deps.clock.now().getTime() < lockedUntil) {
    // NOTE: Keystone wording (keystone/exception.py AccountLocked). Keystone names the user id;
    // vpmu names the user as the client gave it, so unknown users get the same answer.
    throw new ComputeError(
      'auth.account_locked',
      `The account is locked for user: ${ref.id ?? ref.name ?? ''}.`,
    );
  }
  return failures;
}

/**
 * Whom failed logins of a user that does not exist are counted against: the id, or the name in
 * its (normalised) domain, as the client gave them. Never a real user id (those have no colon).
 */
function unknownUserSubject(ref: PasswordAuth['user']): string {
  if (ref.id !== undefined) return `id:${ref.id}`;
  const domain = isDefaultDomain(ref.domain)
    ? DEFAULT_DOMAIN.id
    : JSON.stringify(ref.domain ?? null);
  return `name:${domain}/${ref.name ?? ''}`;
}

let dummyHash: Promise<string> | undefined;

/** A hash of a random password, made once, to check unknown users' passwords against. */
function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(randomBytes(16).toString('base64'));
  return dummyHash;
}

async function findUser(store: Store, ref: PasswordAuth['user']): Promise<UserRecord | undefined> {
  if (ref.id !== undefined) return store.getUser(ref.id);
  if (ref.name === undefined || !isDefaultDomain(ref.domain)) return undefined;
  return store.findUser(ref.name, DEFAULT_DOMAIN.id);
}

async function findProject(
  store: Store,
  ref: PasswordAuth['project'],
): Promise<ProjectRecord | undefined> {
  if (ref.id !== undefined) return store.getProject(ref.id);
  if (ref.name === undefined || !isDefaultDomain(ref.domain)) return undefined;
  return store.findProject(ref.name, DEFAULT_DOMAIN.id);
}

function isDefaultDomain(domain: KeystoneDomainRef | undefined): boolean {
  if (domain === undefined) return false;
  return domain.id === DEFAULT_DOMAIN.id || domain.name === DEFAULT_DOMAIN.name;
}

/** An application credential's expiry (UTC, maybe without a zone suffix) as an ISO string. */
function utcIso(text: string): string {
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/u.test(text) ? text : `${text}Z`).toISOString();
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

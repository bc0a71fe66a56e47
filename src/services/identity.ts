/**
 * Identity use cases (a Keystone v3 subset): password authentication scoped to a project, token
 * validation and expiry, and bootstrapping users, projects and roles from configuration.
 * Passwords are stored as scrypt hashes; tokens are stored as SHA-256 digests.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { ComputeError } from '../errors/index.js';
import type { Clock, Ids } from '../ports/clock.js';
import type { LoginFailures, ProjectRecord, Role, Store, UserRecord } from '../ports/store.js';

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
 * projects and tokens: users and projects change only at bootstrap, before serving, and revokeToken()
 * evicts. Expiry is still checked on every use. Bounded; the oldest entry goes first.
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

/**
 * Checks a password against a project-scoped request and issues a token. An unknown user costs the
 * same work as a wrong password (a check against a dummy hash, one failure counted), so the answer
 * and its timing do not tell whether a user name exists; the lockout treats both alike too.
 */
export async function authenticatePassword(
  deps: AuthenticationDeps,
  auth: PasswordAuth,
): Promise<IssuedToken> {
  const user = await readIdentity(() => findUser(deps.store, auth.user));
  const subject = user?.id ?? unknownUserSubject(auth.user);
  const failures = await refuseWhileLocked(deps, subject, auth.user);
  const passwordRight = await verifyPassword(
    auth.password,
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
  if (!user.enabled) throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
  const project = await findProject(deps.store, auth.project);
  if (!project?.enabled) {
    throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
  }
  const roles = await deps.store.listRoles(user.id, project.id);
  if (roles.length === 0) {
    throw new ComputeError(
      'auth.unauthorized',
      `User ${user.id} has no access to project ${project.id}`, // NOTE: Keystone wording
    );
  }
  const now = deps.clock.now();
  const issuedAt = now.toISOString();
  const expiresAt = new Date(now.getTime() + deps.tokenTtlSeconds * 1000).toISOString();
  const text = deps.ids.newSecret();
  const auditId = digest(`audit:${text}`).slice(0, 22);
  await deps.store.putToken({
    id: digest(text),
    userId: user.id,
    projectId: project.id,
    roles,
    issuedAt,
    expiresAt,
    auditId,
  });
  return {
    text,
    context: {
      userId: user.id,
      userName: user.name,
      projectId: project.id,
      projectName: project.name,
      roles,
      token: { issuedAt, expiresAt, auditId },
    },
  };
}

/**
 * The context a token carries; `auth.unauthorized` when it is unknown or expired, and
 * `auth.unavailable` (503) when the store cannot be read: an outage must not tell a client that
 * its token is gone.
 */
export async function validateToken(
  deps: IdentityDeps,
  text: string | undefined,
): Promise<RequestContext> {
  if (text === undefined || text === '') throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
  const id = digest(text);
  const now = deps.clock.now().toISOString();
  const cached = deps.tokenCache?.get(id);
  if (cached !== undefined && cached.token.expiresAt > now) return cached;
  const token = await readIdentity(() => deps.store.getToken(id));
  if (token === undefined) throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
  if (token.expiresAt <= now) {
    await readIdentity(() => deps.store.deleteExpiredTokens(now));
    // NOTE: Keystone wording (keystone/exception.py TokenNotFound).
    throw new ComputeError(
      'auth.unauthorized',
      `The token has expired: it expired at ${token.expiresAt}.`,
    );
  }
  const [user, project] = await readIdentity(() =>
    Promise.all([deps.store.getUser(token.userId), deps.store.getProject(token.projectId)]),
  );
  if (user === undefined || project === undefined || !user.enabled || !project.enabled) {
    throw new ComputeError('auth.unauthorized', UNAUTHORIZED);
  }
  const context: RequestContext = {
    userId: user.id,
    userName: user.name,
    projectId: project.id,
    projectName: project.name,
    roles: token.roles,
    token: { issuedAt: token.issuedAt, expiresAt: token.expiresAt, auditId: token.auditId },
  };
  deps.tokenCache?.set(id, context);
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
    return await validateToken(deps, text);
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
 * Makes sure the admin user, project and role exist (the password is set to `adminPassword`),
 * then the seeded projects and users. Idempotent: running it again changes only passwords.
 */
export async function bootstrapIdentity(
  deps: IdentityDeps,
  adminPassword: string,
  seed: IdentitySeed,
): Promise<void> {
  const projects = [
    { name: 'admin', description: 'Bootstrap project for initializing the cloud.' },
    ...seed.projects,
  ];
  for (const project of projects) {
    if ((await deps.store.findProject(project.name, DEFAULT_DOMAIN.id)) !== undefined) continue;
    await deps.store.createProject({
      id: deps.ids.newUuid().replaceAll('-', ''),
      name: project.name,
      domainId: DEFAULT_DOMAIN.id,
      description: project.description ?? '',
      enabled: true,
    });
  }
  const users = [
    {
      name: 'admin',
      password: adminPassword,
      project: 'admin',
      roles: ['admin', 'member', 'reader'] as const,
    },
    ...seed.users,
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
      await deps.store.createUser(user);
    } else if (!(await verifyPassword(spec.password, user.passwordHash))) {
      await deps.store.setPassword(user.id, hash);
    }
    for (const role of spec.roles) {
      await deps.store.assignRole({ userId: user.id, projectId: project.id, role });
    }
  }
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

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

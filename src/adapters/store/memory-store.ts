/** An in-memory Store for tests and throwaway runs. Every method is synchronous underneath, so atomic. */
import {
  ROLES,
  orderRoleNames,
  type AllocationRecord,
  type HostUsage,
  type HostChanges,
  type ComputeHostRecord,
  type ServerFilter,
  type ServerGroupRecord,
  type AggregateRecord,
  type QuotaScope,
  type KeypairRecord,
  type InstanceActionRecord,
  type MigrationRecord,
  type ServerLock,
  type SaveServerOptions,
  type ServerRecord,
  type FlavorQuery,
  type FlavorRecord,
  type FlavorSortKey,
  flavorOrder,
  MARKER_NOT_FOUND,
  type ImageFilter,
  type ImageMemberRecord,
  type ImageRecord,
  type MemberStatus,
  type MetadefNamespaceRecord,
  type ApplicationCredentialRecord,
  type AssignmentFilter,
  type ProjectRecord,
  type Role,
  type RoleAssignment,
  type RoleRecord,
  type Store,
  type LoginFailures,
  type TokenRecord,
  type TokenState,
  type UserRecord,
  type LockOutcome,
} from '../../ports/store.js';
import {
  flavorAccessExists,
  identityNameExists,
  flavorIdExists,
  flavorNameExists,
  flavorNotFound,
  imageExists,
  imageMemberExists,
  imageMemberLimitExceeded,
  imageNotFound,
  metadefNamespaceExists,
  metadefNamespaceNotFound,
  serverExists,
  serverGroupExists,
  keypairExists,
  keypairQuotaExceeded,
  serverConflict,
  serverNotFound,
  aggregateNameExists,
  aggregateNotFound,
} from '../../ports/store-errors.js';
import { fitsOnHost, usedOnHost } from '../../ports/claims.js';
import { ProcessLocks } from './process-locks.js';
import { pageOf, sortComparator } from '../../domain/index.js';

/** Keeps everything in maps; records are copied in and out so callers cannot alias them. */
export class MemoryStore implements Store {
  readonly #locks = new ProcessLocks();
  readonly #projects = new Map<string, ProjectRecord>();
  readonly #users = new Map<string, UserRecord>();
  /** Role assignments as JSON [userId, projectId, roleId]. */
  readonly #roles = new Set<string>();
  readonly #roleRecords = new Map<string, RoleRecord>(
    ROLES.map((name) => [name, { id: name, name, description: '' }]),
  );
  readonly #appCreds = new Map<string, ApplicationCredentialRecord>();
  readonly #tokens = new Map<string, TokenRecord>();
  readonly #loginFailures = new Map<string, LoginFailures>();
  readonly #flavors = new Map<string, FlavorRecord>();
  readonly #access = new Map<string, Set<string>>();
  readonly #images = new Map<string, ImageRecord>();
  /** Image members by image id, then member id. */
  readonly #imageMembers = new Map<string, Map<string, ImageMemberRecord>>();
  readonly #metadefs = new Map<string, MetadefNamespaceRecord>();
  readonly #servers = new Map<string, ServerRecord>();
  readonly #serverGroups = new Map<string, ServerGroupRecord>();
  readonly #hosts = new Map<string, ComputeHostRecord>();
  /** Key pairs by user id, then name. */
  readonly #keypairs = new Map<string, Map<string, KeypairRecord>>();
  /** Quota limits by scope key (quotaKey()), then resource. */
  readonly #quotas = new Map<string, Map<string, number>>();
  #lastKeypairId = 0;
  readonly #aggregates = new Map<number, AggregateRecord>();
  #lastAggregateId = 0;
  readonly #instanceActions = new Map<string, Map<string, InstanceActionRecord>>();
  readonly #allocations = new Map<string, AllocationRecord>();
  /** The host change sequence: its point, where each host last changed, the aggregates' last. */
  #changeSeq = 0;
  readonly #hostChanged = new Map<string, number>();
  #aggregatesChanged = 0;

  async createProject(project: ProjectRecord): Promise<void> {
    if (this.#projects.has(project.id) || this.#findProjectSync(project.name, project.domainId)) {
      throw identityNameExists('project', project.name);
    }
    this.#projects.set(project.id, clone(project));
  }

  async getProject(id: string): Promise<ProjectRecord | undefined> {
    const found = this.#projects.get(id);
    return found === undefined ? undefined : clone(found);
  }

  async findProject(name: string, domainId: string): Promise<ProjectRecord | undefined> {
    const found = this.#findProjectSync(name, domainId);
    return found === undefined ? undefined : clone(found);
  }

  async listProjects(): Promise<ProjectRecord[]> {
    return [...this.#projects.values()].sort((a, b) => compare(a.name, b.name)).map(clone);
  }

  async createUser(user: UserRecord): Promise<void> {
    const taken = [...this.#users.values()].some(
      (u) => u.id === user.id || (u.name === user.name && u.domainId === user.domainId),
    );
    if (taken) throw identityNameExists('user', user.name);
    this.#users.set(user.id, clone(user));
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    const found = this.#users.get(id);
    return found === undefined ? undefined : clone(found);
  }

  async findUser(name: string, domainId: string): Promise<UserRecord | undefined> {
    const found = [...this.#users.values()].find((u) => u.name === name && u.domainId === domainId);
    return found === undefined ? undefined : clone(found);
  }

  async setPassword(userId: string, passwordHash: string): Promise<void> {
    const user = this.#users.get(userId);
    if (user === undefined)
      throw new Error(`Cannot set the password of user ${userId}: no such user`);
    this.#users.set(userId, { ...user, passwordHash });
  }

  async assignRole(assignment: RoleAssignment): Promise<void> {
    this.#roles.add(JSON.stringify([assignment.userId, assignment.projectId, assignment.role]));
  }

  async listRoles(userId: string, projectId: string): Promise<Role[]> {
    const held = this.#assignmentList({ userId, projectId })
      .map((a) => this.#roleRecords.get(a.role)?.name)
      .filter((name): name is string => name !== undefined);
    return orderRoleNames(held);
  }

  async updateProject(project: ProjectRecord): Promise<void> {
    const clash = this.#findProjectSync(project.name, project.domainId);
    if (clash !== undefined && clash.id !== project.id)
      throw identityNameExists('project', project.name);
    if (this.#projects.has(project.id)) this.#projects.set(project.id, clone(project));
  }

  async deleteProject(id: string): Promise<boolean> {
    if (!this.#projects.delete(id)) return false;
    this.#dropAssignments((a) => a.projectId === id);
    this.#dropTokens((t) => t.projectId === id);
    for (const [key, cred] of this.#appCreds) if (cred.projectId === id) this.#appCreds.delete(key);
    return true;
  }

  async listUsers(): Promise<UserRecord[]> {
    return [...this.#users.values()].sort((a, b) => compare(a.name, b.name)).map(clone);
  }

  async updateUser(user: UserRecord): Promise<void> {
    const clash = [...this.#users.values()].find(
      (u) => u.name === user.name && u.domainId === user.domainId && u.id !== user.id,
    );
    if (clash !== undefined) throw identityNameExists('user', user.name);
    if (this.#users.has(user.id)) this.#users.set(user.id, clone(user));
  }

  async deleteUser(id: string): Promise<boolean> {
    if (!this.#users.delete(id)) return false;
    this.#dropAssignments((a) => a.userId === id);
    this.#dropTokens((t) => t.userId === id);
    for (const [key, cred] of this.#appCreds) if (cred.userId === id) this.#appCreds.delete(key);
    return true;
  }

  async createRole(role: RoleRecord): Promise<void> {
    if (this.#roleRecords.has(role.id) || (await this.findRole(role.name)) !== undefined) {
      throw identityNameExists('role', role.name, 'at domain ID <null>');
    }
    this.#roleRecords.set(role.id, { ...role });
  }

  async getRole(id: string): Promise<RoleRecord | undefined> {
    return copy(this.#roleRecords.get(id));
  }

  async findRole(name: string): Promise<RoleRecord | undefined> {
    return copy([...this.#roleRecords.values()].find((r) => r.name === name));
  }

  async listRoleRecords(): Promise<RoleRecord[]> {
    return [...this.#roleRecords.values()]
      .sort((a, b) => compare(a.name, b.name))
      .map((r) => ({ ...r }));
  }

  async updateRole(role: RoleRecord): Promise<void> {
    const clash = [...this.#roleRecords.values()].find(
      (r) => r.name === role.name && r.id !== role.id,
    );
    if (clash !== undefined) throw identityNameExists('role', role.name, 'at domain ID <null>');
    if (this.#roleRecords.has(role.id)) this.#roleRecords.set(role.id, { ...role });
  }

  async deleteRole(id: string): Promise<boolean> {
    if (!this.#roleRecords.delete(id)) return false;
    this.#dropAssignments((a) => a.role === id);
    return true;
  }

  async unassignRole(assignment: RoleAssignment): Promise<boolean> {
    return this.#roles.delete(
      JSON.stringify([assignment.userId, assignment.projectId, assignment.role]),
    );
  }

  async listAssignments(filter: AssignmentFilter): Promise<RoleAssignment[]> {
    return this.#assignmentList(filter);
  }

  async deleteTokensOf(filter: { userId?: string; projectId?: string }): Promise<number> {
    return this.#dropTokens(
      (t) =>
        (filter.userId === undefined || t.userId === filter.userId) &&
        (filter.projectId === undefined || t.projectId === filter.projectId),
    );
  }

  async createApplicationCredential(credential: ApplicationCredentialRecord): Promise<void> {
    const clash = [...this.#appCreds.values()].some(
      (c) =>
        c.id === credential.id || (c.userId === credential.userId && c.name === credential.name),
    );
    if (clash) {
      throw identityNameExists(
        'application_credential',
        credential.name,
        `for user ${credential.userId}`,
      );
    }
    this.#appCreds.set(credential.id, clone(credential));
  }

  async getApplicationCredential(id: string): Promise<ApplicationCredentialRecord | undefined> {
    const found = this.#appCreds.get(id);
    return found === undefined ? undefined : clone(found);
  }

  async listApplicationCredentials(userId: string): Promise<ApplicationCredentialRecord[]> {
    return [...this.#appCreds.values()]
      .filter((c) => c.userId === userId)
      .sort((a, b) => compare(a.name, b.name))
      .map(clone);
  }

  async deleteApplicationCredential(id: string): Promise<boolean> {
    if (!this.#appCreds.delete(id)) return false;
    this.#dropTokens((t) => t.applicationCredentialId === id);
    return true;
  }

  #assignmentList(filter: AssignmentFilter): RoleAssignment[] {
    return [...this.#roles]
      .map((key) => {
        const [userId, projectId, role] = JSON.parse(key) as [string, string, string];
        return { userId, projectId, role };
      })
      .filter(
        (a) =>
          (filter.userId === undefined || a.userId === filter.userId) &&
          (filter.projectId === undefined || a.projectId === filter.projectId) &&
          (filter.roleId === undefined || a.role === filter.roleId),
      )
      .sort(
        (a, b) =>
          compare(a.userId, b.userId) ||
          compare(a.projectId, b.projectId) ||
          compare(a.role, b.role),
      );
  }

  #dropAssignments(match: (a: RoleAssignment) => boolean): void {
    for (const a of this.#assignmentList({})) {
      if (match(a)) this.#roles.delete(JSON.stringify([a.userId, a.projectId, a.role]));
    }
  }

  #dropTokens(match: (t: TokenRecord) => boolean): number {
    let count = 0;
    for (const [id, token] of this.#tokens) {
      if (match(token)) {
        this.#tokens.delete(id);
        count++;
      }
    }
    return count;
  }

  async putToken(token: TokenRecord): Promise<void> {
    this.#tokens.set(token.id, clone(token));
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const token = this.#tokens.get(id);
    return token === undefined ? undefined : clone(token);
  }

  async getTokenState(id: string): Promise<TokenState | undefined> {
    const token = await this.getToken(id);
    if (token === undefined) return undefined;
    const scoped = token.projectId !== '';
    const [user, project, heldRoles, credential] = await Promise.all([
      this.getUser(token.userId),
      scoped ? this.getProject(token.projectId) : undefined,
      scoped ? this.listRoles(token.userId, token.projectId) : [],
      token.applicationCredentialId === undefined
        ? undefined
        : this.getApplicationCredential(token.applicationCredentialId),
    ]);
    return {
      token,
      heldRoles,
      ...(user === undefined
        ? {}
        : { user: { id: user.id, name: user.name, enabled: user.enabled } }),
      ...(project === undefined
        ? {}
        : { project: { id: project.id, name: project.name, enabled: project.enabled } }),
      ...(credential === undefined
        ? {}
        : {
            applicationCredential: {
              id: credential.id,
              name: credential.name,
              unrestricted: credential.unrestricted,
            },
          }),
    };
  }

  async deleteToken(id: string): Promise<boolean> {
    return this.#tokens.delete(id);
  }

  async deleteExpiredTokens(now: string): Promise<number> {
    let count = 0;
    for (const [id, token] of this.#tokens) {
      if (token.expiresAt <= now) {
        this.#tokens.delete(id);
        count++;
      }
    }
    return count;
  }

  async getLoginFailures(subject: string): Promise<LoginFailures | undefined> {
    return copy(this.#loginFailures.get(subject));
  }

  async recordLoginFailure(
    subject: string,
    at: string,
    forgetUpTo: string,
  ): Promise<LoginFailures> {
    for (const [key, failures] of this.#loginFailures) {
      if (failures.lastFailureAt <= forgetUpTo) this.#loginFailures.delete(key);
    }
    const count = (this.#loginFailures.get(subject)?.count ?? 0) + 1;
    const failures = { subject, count, lastFailureAt: at };
    this.#loginFailures.set(subject, failures);
    return { ...failures };
  }

  async clearLoginFailures(subject: string): Promise<void> {
    this.#loginFailures.delete(subject);
  }

  async createFlavor(
    flavor: FlavorRecord,
    accessProjectIds: readonly string[] = [],
  ): Promise<void> {
    if (this.#flavors.has(flavor.id)) throw flavorIdExists(flavor.id);
    if ([...this.#flavors.values()].some((f) => f.name === flavor.name)) {
      throw flavorNameExists(flavor.name);
    }
    this.#flavors.set(flavor.id, copyFlavor(flavor));
    this.#access.set(flavor.id, new Set(accessProjectIds));
  }

  async getFlavor(id: string): Promise<FlavorRecord | undefined> {
    const flavor = this.#flavors.get(id);
    return flavor === undefined ? undefined : copyFlavor(flavor);
  }

  async listFlavors(): Promise<FlavorRecord[]> {
    return [...this.#flavors.values()].sort((a, b) => compare(a.id, b.id)).map(copyFlavor);
  }

  async queryFlavors(query: FlavorQuery): Promise<FlavorRecord[] | typeof MARKER_NOT_FOUND> {
    const marker = query.marker === undefined ? undefined : this.#flavors.get(query.marker);
    if (query.marker !== undefined && marker === undefined) return MARKER_NOT_FOUND;
    const matches = [...this.#flavors.values()].filter(
      (f) =>
        (query.minMemoryMiB === undefined || f.memoryMiB >= query.minMemoryMiB) &&
        (query.minDiskGiB === undefined || f.diskGiB >= query.minDiskGiB) &&
        (query.isPublic === undefined ||
          f.isPublic === query.isPublic ||
          (query.isPublic &&
            query.accessProjectId !== undefined &&
            (this.#access.get(f.id)?.has(query.accessProjectId) ?? false))),
    );
    const compare = sortComparator<FlavorRecord, FlavorSortKey>(
      flavorOrder(query.sort),
      (f, key) => (key === 'isPublic' ? f.isPublic : f[key]),
    );
    return pageOf(matches, compare, marker, query.limit).map(copyFlavor);
  }

  async deleteFlavor(id: string): Promise<boolean> {
    this.#access.delete(id);
    return this.#flavors.delete(id);
  }

  async setExtraSpecs(
    flavorId: string,
    specs: Readonly<Record<string, string>>,
  ): Promise<FlavorRecord> {
    const flavor = this.#flavors.get(flavorId);
    if (flavor === undefined) throw flavorNotFound(flavorId);
    const updated = { ...flavor, extraSpecs: { ...flavor.extraSpecs, ...specs } };
    this.#flavors.set(flavorId, updated);
    return copyFlavor(updated);
  }

  async deleteExtraSpec(flavorId: string, key: string): Promise<boolean> {
    const flavor = this.#flavors.get(flavorId);
    if (flavor === undefined || !Object.hasOwn(flavor.extraSpecs, key)) return false;
    const extraSpecs = { ...flavor.extraSpecs };
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a map keyed by spec name
    delete extraSpecs[key];
    this.#flavors.set(flavorId, { ...flavor, extraSpecs });
    return true;
  }

  async addFlavorAccess(flavorId: string, projectId: string): Promise<void> {
    const access = this.#access.get(flavorId);
    if (access === undefined) throw flavorNotFound(flavorId);
    if (access.has(projectId)) throw flavorAccessExists(flavorId, projectId);
    access.add(projectId);
  }

  async listFlavorAccess(flavorId: string): Promise<string[]> {
    return [...(this.#access.get(flavorId) ?? [])].sort(compare);
  }

  async createImage(image: ImageRecord): Promise<void> {
    if (this.#images.has(image.id)) throw imageExists(image.id);
    this.#images.set(image.id, copyImage(image));
  }

  async getImage(id: string): Promise<ImageRecord | undefined> {
    const image = this.#images.get(id);
    return image === undefined ? undefined : copyImage(image);
  }

  async listImages(filter: ImageFilter = {}): Promise<ImageRecord[]> {
    return [...this.#images.values()]
      .filter(
        (i) =>
          (filter.name === undefined || i.name === filter.name) &&
          (filter.owner === undefined || i.owner === filter.owner) &&
          (filter.visibility === undefined || i.visibility === filter.visibility),
      )
      .sort((a, b) => compare(a.createdAt, b.createdAt) || compare(a.id, b.id))
      .map(copyImage);
  }

  async saveImage(image: ImageRecord): Promise<void> {
    if (!this.#images.has(image.id)) throw imageNotFound(image.id);
    this.#images.set(image.id, copyImage(image));
  }

  async deleteImage(id: string): Promise<boolean> {
    this.#imageMembers.delete(id);
    return this.#images.delete(id);
  }

  async addImageMember(member: ImageMemberRecord, maxPerImage: number): Promise<void> {
    if (!this.#images.has(member.imageId)) throw imageNotFound(member.imageId);
    const members = this.#imageMembers.get(member.imageId) ?? new Map<string, ImageMemberRecord>();
    if (members.has(member.memberId)) throw imageMemberExists(member.imageId, member.memberId);
    if (members.size >= maxPerImage) {
      throw imageMemberLimitExceeded(member.imageId, members.size + 1, maxPerImage);
    }
    members.set(member.memberId, { ...member });
    this.#imageMembers.set(member.imageId, members);
  }

  async getImageMember(imageId: string, memberId: string): Promise<ImageMemberRecord | undefined> {
    return copy(this.#imageMembers.get(imageId)?.get(memberId));
  }

  async listImageMembers(imageId: string): Promise<ImageMemberRecord[]> {
    return [...(this.#imageMembers.get(imageId)?.values() ?? [])]
      .sort((a, b) => compare(a.createdAt, b.createdAt) || compare(a.memberId, b.memberId))
      .map((m) => ({ ...m }));
  }

  async listImageMemberships(memberId: string): Promise<ImageMemberRecord[]> {
    return [...this.#imageMembers.values()].flatMap((members) => {
      const member = members.get(memberId);
      return member === undefined ? [] : [{ ...member }];
    });
  }

  async setImageMemberStatus(
    imageId: string,
    memberId: string,
    status: MemberStatus,
    at: string,
  ): Promise<ImageMemberRecord | undefined> {
    const members = this.#imageMembers.get(imageId);
    const member = members?.get(memberId);
    if (members === undefined || member === undefined) return undefined;
    const updated = { ...member, status, updatedAt: at };
    members.set(memberId, updated);
    return { ...updated };
  }

  async deleteImageMember(imageId: string, memberId: string): Promise<boolean> {
    return this.#imageMembers.get(imageId)?.delete(memberId) ?? false;
  }

  async createMetadefNamespace(namespace: MetadefNamespaceRecord): Promise<void> {
    if (this.#metadefs.has(namespace.namespace)) {
      throw metadefNamespaceExists(namespace.namespace);
    }
    this.#metadefs.set(namespace.namespace, clone(namespace));
  }

  async getMetadefNamespace(name: string): Promise<MetadefNamespaceRecord | undefined> {
    const namespace = this.#metadefs.get(name);
    return namespace === undefined ? undefined : clone(namespace);
  }

  async listMetadefNamespaces(): Promise<MetadefNamespaceRecord[]> {
    return [...this.#metadefs.values()]
      .sort((a, b) => compare(a.namespace, b.namespace))
      .map((ns) => clone(ns));
  }

  async saveMetadefNamespace(name: string, namespace: MetadefNamespaceRecord): Promise<void> {
    if (!this.#metadefs.has(name)) throw metadefNamespaceNotFound(name);
    if (namespace.namespace !== name && this.#metadefs.has(namespace.namespace)) {
      throw metadefNamespaceExists(namespace.namespace);
    }
    this.#metadefs.delete(name);
    this.#metadefs.set(namespace.namespace, clone(namespace));
  }

  async deleteMetadefNamespace(name: string): Promise<boolean> {
    return this.#metadefs.delete(name);
  }

  async createServer(server: ServerRecord, action?: InstanceActionRecord): Promise<void> {
    if (this.#servers.has(server.id)) throw serverExists(server.id);
    this.#servers.set(server.id, clone(server));
    if (action !== undefined) this.#putAction(action);
  }

  async getServer(id: string): Promise<ServerRecord | undefined> {
    const server = this.#servers.get(id);
    return server === undefined ? undefined : clone(server);
  }

  async listServers(filter: ServerFilter = {}): Promise<ServerRecord[]> {
    return [...this.#servers.values()]
      .filter((s) => filter.projectId === undefined || s.projectId === filter.projectId)
      .sort((a, b) => compare(a.createdAt, b.createdAt) || compare(a.id, b.id))
      .map((s) => clone(s));
  }

  async saveServer(server: ServerRecord, options?: SaveServerOptions): Promise<void> {
    const stored = this.#servers.get(server.id);
    if (stored === undefined) throw serverNotFound(server.id);
    if (options !== undefined && (stored.version ?? null) !== options.ifVersion) {
      throw serverConflict(server.id);
    }
    this.#servers.set(server.id, clone({ ...server, lock: stored.lock, tags: stored.tags }));
    if (options?.action !== undefined) this.#putAction(options.action);
  }

  async setServerLock(id: string, lock: ServerLock | null): Promise<void> {
    const stored = this.#servers.get(id);
    if (stored === undefined) throw serverNotFound(id);
    this.#servers.set(id, { ...stored, lock: clone(lock) });
  }

  async updateServerTags(
    id: string,
    edit: (current: readonly string[]) => readonly string[],
  ): Promise<readonly string[]> {
    const stored = this.#servers.get(id);
    if (stored === undefined) throw serverNotFound(id);
    const tags = [...edit([...stored.tags])];
    this.#servers.set(id, { ...stored, tags });
    return [...tags];
  }

  async deleteServer(id: string, action?: InstanceActionRecord): Promise<boolean> {
    if (action !== undefined) this.#putAction(action);
    return this.#servers.delete(id);
  }

  async createServerGroup(group: ServerGroupRecord): Promise<void> {
    if (this.#serverGroups.has(group.id)) throw serverGroupExists(group.id);
    this.#serverGroups.set(group.id, clone(group));
  }

  async getServerGroup(id: string): Promise<ServerGroupRecord | undefined> {
    const group = this.#serverGroups.get(id);
    return group === undefined ? undefined : clone(group);
  }

  async listServerGroups(projectId?: string): Promise<ServerGroupRecord[]> {
    return [...this.#serverGroups.values()]
      .filter((g) => projectId === undefined || g.projectId === projectId)
      .sort((a, b) => compare(a.createdAt, b.createdAt) || compare(a.id, b.id))
      .map(clone);
  }

  async deleteServerGroup(id: string): Promise<boolean> {
    return this.#serverGroups.delete(id);
  }

  async addServerGroupMember(groupId: string, serverId: string): Promise<boolean> {
    const group = this.#serverGroups.get(groupId);
    if (group === undefined) return false;
    if (!group.members.includes(serverId)) {
      this.#serverGroups.set(groupId, { ...group, members: [...group.members, serverId] });
    }
    return true;
  }

  async removeServerGroupMember(serverId: string): Promise<void> {
    for (const group of this.#serverGroups.values()) {
      if (group.members.includes(serverId)) {
        const members = group.members.filter((m) => m !== serverId);
        this.#serverGroups.set(group.id, { ...group, members });
      }
    }
  }

  async createKeypair(
    keypair: Omit<KeypairRecord, 'id'>,
    maxPerUser: number,
  ): Promise<KeypairRecord> {
    const mine = this.#keypairs.get(keypair.userId) ?? new Map<string, KeypairRecord>();
    if (mine.has(keypair.name)) throw keypairExists(keypair.name);
    if (mine.size >= maxPerUser) throw keypairQuotaExceeded();
    this.#lastKeypairId += 1;
    const stored: KeypairRecord = { ...keypair, id: this.#lastKeypairId };
    mine.set(keypair.name, stored);
    this.#keypairs.set(keypair.userId, mine);
    return { ...stored };
  }

  async getKeypair(userId: string, name: string): Promise<KeypairRecord | undefined> {
    const found = this.#keypairs.get(userId)?.get(name);
    return found === undefined ? undefined : { ...found };
  }

  async listKeypairs(userId: string): Promise<KeypairRecord[]> {
    return [...(this.#keypairs.get(userId)?.values() ?? [])]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((k) => ({ ...k }));
  }

  async deleteKeypair(userId: string, name: string): Promise<boolean> {
    return this.#keypairs.get(userId)?.delete(name) ?? false;
  }

  async getQuotaLimits(scope: QuotaScope): Promise<Record<string, number>> {
    return Object.fromEntries(this.#quotas.get(quotaKey(scope)) ?? []);
  }

  async getQuotaLimitsOf(scopes: readonly QuotaScope[]): Promise<Record<string, number>[]> {
    return Promise.all(scopes.map((scope) => this.getQuotaLimits(scope)));
  }

  async setQuotaLimits(scope: QuotaScope, limits: Readonly<Record<string, number>>): Promise<void> {
    const key = quotaKey(scope);
    const held = new Map(this.#quotas.get(key) ?? []);
    for (const [resource, limit] of Object.entries(limits)) held.set(resource, limit);
    this.#quotas.set(key, held);
  }

  async deleteQuotaLimits(scope: QuotaScope): Promise<void> {
    const key = quotaKey(scope);
    this.#quotas.delete(key);
    if (scope.kind === 'project') {
      for (const other of [...this.#quotas.keys()]) {
        if (other.startsWith(`user\u0000${scope.projectId}\u0000`)) this.#quotas.delete(other);
      }
    }
  }

  readonly #migrations = new Map<number, MigrationRecord>();

  async createMigration(migration: Omit<MigrationRecord, 'id'>): Promise<MigrationRecord> {
    const record = { ...migration, id: this.#migrations.size + 1 };
    this.#migrations.set(record.id, structuredClone(record));
    return record;
  }

  async saveMigration(migration: MigrationRecord): Promise<void> {
    this.#migrations.set(migration.id, structuredClone(migration));
  }

  async listMigrations(): Promise<MigrationRecord[]> {
    return [...this.#migrations.values()].map((m) => structuredClone(m));
  }

  async putInstanceAction(action: InstanceActionRecord): Promise<void> {
    this.#putAction(action);
  }

  #putAction(action: InstanceActionRecord): void {
    const mine =
      this.#instanceActions.get(action.serverId) ?? new Map<string, InstanceActionRecord>();
    mine.set(action.requestId, structuredClone(action));
    this.#instanceActions.set(action.serverId, mine);
  }

  async listInstanceActions(serverId: string): Promise<InstanceActionRecord[]> {
    return [...(this.#instanceActions.get(serverId)?.values() ?? [])]
      .sort(
        (a, b) => a.startTime.localeCompare(b.startTime) || a.requestId.localeCompare(b.requestId),
      )
      .map((a) => structuredClone(a));
  }

  async putComputeHost(host: ComputeHostRecord): Promise<void> {
    const { heartbeatAt, ...rest } = host;
    const beat = heartbeatAt ?? this.#hosts.get(host.name)?.heartbeatAt ?? null;
    this.#hosts.set(host.name, clone(beat === null ? rest : { ...rest, heartbeatAt: beat }));
    this.#hostChanged.set(host.name, ++this.#changeSeq);
  }

  async reportHeartbeat(host: string, at: string): Promise<boolean> {
    const known = this.#hosts.get(host);
    if (known === undefined) return false;
    this.#hosts.set(host, { ...known, heartbeatAt: at });
    return true;
  }

  async silentHosts(before: string): Promise<string[]> {
    return [...this.#hosts.values()]
      .filter((host) => typeof host.heartbeatAt === 'string' && host.heartbeatAt < before)
      .map((host) => host.name)
      .sort(compare);
  }

  async getComputeHost(name: string): Promise<ComputeHostRecord | undefined> {
    const host = this.#hosts.get(name);
    return host === undefined ? undefined : clone(host);
  }

  async listComputeHosts(): Promise<ComputeHostRecord[]> {
    return [...this.#hosts.values()].sort((a, b) => compare(a.name, b.name)).map((h) => clone(h));
  }

  async createAggregate(aggregate: Omit<AggregateRecord, 'id'>): Promise<AggregateRecord> {
    if ([...this.#aggregates.values()].some((a) => a.name === aggregate.name)) {
      throw aggregateNameExists(aggregate.name);
    }
    this.#lastAggregateId += 1;
    const stored: AggregateRecord = { ...clone(aggregate), id: this.#lastAggregateId };
    this.#aggregates.set(stored.id, stored);
    this.#aggregatesChanged = ++this.#changeSeq;
    return clone(stored);
  }

  async getAggregate(id: number): Promise<AggregateRecord | undefined> {
    const found = this.#aggregates.get(id);
    return found === undefined ? undefined : clone(found);
  }

  async listAggregates(): Promise<AggregateRecord[]> {
    return [...this.#aggregates.values()].sort((a, b) => a.id - b.id).map((a) => clone(a));
  }

  async saveAggregate(aggregate: AggregateRecord): Promise<void> {
    if (!this.#aggregates.has(aggregate.id)) throw aggregateNotFound(aggregate.id);
    const others = [...this.#aggregates.values()].filter((a) => a.id !== aggregate.id);
    if (others.some((a) => a.name === aggregate.name)) throw aggregateNameExists(aggregate.name);
    this.#aggregates.set(aggregate.id, clone(aggregate));
    this.#aggregatesChanged = ++this.#changeSeq;
  }

  async deleteAggregate(id: number): Promise<boolean> {
    if (!this.#aggregates.delete(id)) return false;
    this.#aggregatesChanged = ++this.#changeSeq;
    return true;
  }

  async deleteComputeHost(name: string): Promise<boolean> {
    if (!this.#hosts.delete(name)) return false;
    this.#hostChanged.set(name, ++this.#changeSeq);
    return true;
  }

  async claim(allocation: AllocationRecord): Promise<boolean> {
    // Synchronous from here to the set(): nothing can interleave, so the check and the write
    // are one atomic step.
    const host = this.#hosts.get(allocation.host);
    if (host === undefined || this.#allocations.has(allocation.consumerId)) return false;
    const held = [...this.#allocations.values()].filter((a) => a.host === allocation.host);
    if (!fitsOnHost(host, usedOnHost(held), allocation.resources)) return false;
    this.#allocations.set(allocation.consumerId, clone(allocation));
    this.#hostChanged.set(allocation.host, ++this.#changeSeq);
    return true;
  }

  async releaseClaim(consumerId: string): Promise<boolean> {
    const held = this.#allocations.get(consumerId);
    if (held === undefined) return false;
    this.#allocations.delete(consumerId);
    this.#hostChanged.set(held.host, ++this.#changeSeq);
    return true;
  }

  async listAllocations(host?: string): Promise<AllocationRecord[]> {
    return [...this.#allocations.values()]
      .filter((a) => host === undefined || a.host === host)
      .sort((a, b) => compare(a.consumerId, b.consumerId))
      .map((a) => clone(a));
  }

  async usageByHost(): Promise<Map<string, HostUsage>> {
    const hosts = new Set([...this.#allocations.values()].map((a) => a.host));
    return new Map(
      [...hosts].map((host) => [
        host,
        usedOnHost([...this.#allocations.values()].filter((a) => a.host === host)),
      ]),
    );
  }

  async withLock<T>(
    name: string,
    work: () => Promise<T>,
    ifHeld: 'wait' | 'skip' = 'wait',
  ): Promise<LockOutcome<T>> {
    return this.#locks.withLock(name, work, ifHeld);
  }

  async hostChangeSeq(): Promise<number> {
    return this.#changeSeq;
  }

  async hostChangesSince(seq: number): Promise<HostChanges> {
    const changed = [...this.#hostChanged.entries()]
      .filter(([, at]) => at > seq)
      .map(([name]) => name)
      .sort(compare);
    const hosts = changed.flatMap((name) => {
      const host = this.#hosts.get(name);
      return host === undefined ? [] : [clone(host)];
    });
    const usage = new Map<string, HostUsage>();
    for (const host of hosts) {
      const held = [...this.#allocations.values()].filter((a) => a.host === host.name);
      if (held.length > 0) usage.set(host.name, usedOnHost(held));
    }
    return {
      seq: this.#changeSeq,
      hosts,
      usage,
      removed: changed.filter((name) => !this.#hosts.has(name)),
      ...(this.#aggregatesChanged > seq
        ? {
            aggregates: [...this.#aggregates.values()]
              .sort((a, b) => a.id - b.id)
              .map((a) => clone(a)),
          }
        : {}),
    };
  }

  async close(): Promise<void> {
    // nothing to release
  }

  #findProjectSync(name: string, domainId: string): ProjectRecord | undefined {
    return [...this.#projects.values()].find((p) => p.name === name && p.domainId === domainId);
  }
}

function copy<T extends object>(value: T | undefined): T | undefined {
  return value === undefined ? undefined : { ...value };
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function copyFlavor(flavor: FlavorRecord): FlavorRecord {
  return { ...flavor, extraSpecs: { ...flavor.extraSpecs } };
}

function copyImage(image: ImageRecord): ImageRecord {
  return { ...image, tags: [...image.tags], properties: { ...image.properties } };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One scope's key in the quota map: kind, owner and user, NUL-separated. */
function quotaKey(scope: QuotaScope): string {
  switch (scope.kind) {
    case 'class':
      return `class\u0000${scope.name}`;
    case 'project':
      return `project\u0000${scope.projectId}`;
    case 'user':
      return `user\u0000${scope.projectId}\u0000${scope.userId}`;
  }
}

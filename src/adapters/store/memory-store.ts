/** An in-memory Store for tests and throwaway runs. Every method is synchronous underneath, so atomic. */
import {
  ROLES,
  type AllocationRecord,
  type HostUsage,
  type ComputeHostRecord,
  type ServerFilter,
  type ServerGroupRecord,
  type KeypairRecord,
  type InstanceActionRecord,
  type ServerLock,
  type ServerRecord,
  type FlavorQuery,
  type FlavorRecord,
  type FlavorSortKey,
  flavorOrder,
  MARKER_NOT_FOUND,
  type ImageFilter,
  type ImageRecord,
  type ProjectRecord,
  type Role,
  type RoleAssignment,
  type Store,
  type LoginFailures,
  type TokenRecord,
  type UserRecord,
} from '../../ports/store.js';
import {
  flavorAccessExists,
  flavorIdExists,
  flavorNameExists,
  flavorNotFound,
  imageExists,
  imageNotFound,
  serverExists,
  serverGroupExists,
  keypairExists,
  keypairQuotaExceeded,
  serverNotFound,
} from '../../ports/store-errors.js';
import { fitsOnHost, usedOnHost } from '../../ports/claims.js';
import { pageOf, sortComparator } from '../../domain/index.js';

/** Keeps everything in maps; records are copied in and out so callers cannot alias them. */
export class MemoryStore implements Store {
  readonly #projects = new Map<string, ProjectRecord>();
  readonly #users = new Map<string, UserRecord>();
  readonly #roles = new Set<string>();
  readonly #tokens = new Map<string, TokenRecord>();
  readonly #loginFailures = new Map<string, LoginFailures>();
  readonly #flavors = new Map<string, FlavorRecord>();
  readonly #access = new Map<string, Set<string>>();
  readonly #images = new Map<string, ImageRecord>();
  readonly #servers = new Map<string, ServerRecord>();
  readonly #serverGroups = new Map<string, ServerGroupRecord>();
  readonly #hosts = new Map<string, ComputeHostRecord>();
  /** Key pairs by user id, then name. */
  readonly #keypairs = new Map<string, Map<string, KeypairRecord>>();
  #lastKeypairId = 0;
  readonly #instanceActions = new Map<string, Map<string, InstanceActionRecord>>();
  readonly #allocations = new Map<string, AllocationRecord>();

  async createProject(project: ProjectRecord): Promise<void> {
    if (this.#projects.has(project.id) || this.#findProjectSync(project.name, project.domainId)) {
      throw new Error(`Cannot create project "${project.name}": it already exists`);
    }
    this.#projects.set(project.id, { ...project });
  }

  async getProject(id: string): Promise<ProjectRecord | undefined> {
    return copy(this.#projects.get(id));
  }

  async findProject(name: string, domainId: string): Promise<ProjectRecord | undefined> {
    return copy(this.#findProjectSync(name, domainId));
  }

  async listProjects(): Promise<ProjectRecord[]> {
    return [...this.#projects.values()]
      .sort((a, b) => compare(a.name, b.name))
      .map((p) => ({ ...p }));
  }

  async createUser(user: UserRecord): Promise<void> {
    const taken = [...this.#users.values()].some(
      (u) => u.id === user.id || (u.name === user.name && u.domainId === user.domainId),
    );
    if (taken) throw new Error(`Cannot create user "${user.name}": it already exists`);
    this.#users.set(user.id, { ...user });
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    return copy(this.#users.get(id));
  }

  async findUser(name: string, domainId: string): Promise<UserRecord | undefined> {
    return copy([...this.#users.values()].find((u) => u.name === name && u.domainId === domainId));
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
    return ROLES.filter((role) => this.#roles.has(JSON.stringify([userId, projectId, role])));
  }

  async putToken(token: TokenRecord): Promise<void> {
    this.#tokens.set(token.id, { ...token, roles: [...token.roles] });
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const token = this.#tokens.get(id);
    return token === undefined ? undefined : { ...token, roles: [...token.roles] };
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
    return this.#images.delete(id);
  }

  async createServer(server: ServerRecord): Promise<void> {
    if (this.#servers.has(server.id)) throw serverExists(server.id);
    this.#servers.set(server.id, clone(server));
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

  async saveServer(server: ServerRecord): Promise<void> {
    const stored = this.#servers.get(server.id);
    if (stored === undefined) throw serverNotFound(server.id);
    this.#servers.set(server.id, clone({ ...server, lock: stored.lock, tags: stored.tags }));
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

  async deleteServer(id: string): Promise<boolean> {
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

  async putInstanceAction(action: InstanceActionRecord): Promise<void> {
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
    this.#hosts.set(host.name, clone(host));
  }

  async getComputeHost(name: string): Promise<ComputeHostRecord | undefined> {
    const host = this.#hosts.get(name);
    return host === undefined ? undefined : clone(host);
  }

  async listComputeHosts(): Promise<ComputeHostRecord[]> {
    return [...this.#hosts.values()].sort((a, b) => compare(a.name, b.name)).map((h) => clone(h));
  }

  async claim(allocation: AllocationRecord): Promise<boolean> {
    // Synchronous from here to the set(): nothing can interleave, so the check and the write
    // are one atomic step.
    const host = this.#hosts.get(allocation.host);
    if (host === undefined || this.#allocations.has(allocation.consumerId)) return false;
    const held = [...this.#allocations.values()].filter((a) => a.host === allocation.host);
    if (!fitsOnHost(host, usedOnHost(held), allocation.resources)) return false;
    this.#allocations.set(allocation.consumerId, clone(allocation));
    return true;
  }

  async releaseClaim(consumerId: string): Promise<boolean> {
    return this.#allocations.delete(consumerId);
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

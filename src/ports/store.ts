/**
 * The Store port: everything the service persists. Adapters live in src/adapters/store/ (memory,
 * SQLite); every adapter passes src/ports/store.contract.ts.
 *
 * Contract: every method is atomic (all of its writes happen, or none); records returned are
 * copies the caller may keep; lists are sorted as documented; a write that would duplicate a
 * unique id or name rejects with a ComputeError whose code says which (`flavor.exists`, …).
 */

/** The roles vpmu knows, as Keystone names them. */
export const ROLES = ['admin', 'member', 'reader'] as const;
export type Role = (typeof ROLES)[number];

/** A Keystone project (tenant). */
export interface ProjectRecord {
  readonly id: string;
  readonly name: string;
  readonly domainId: string;
  readonly description: string;
  readonly enabled: boolean;
}

/** A Keystone user; the password is kept only as a scrypt hash. */
export interface UserRecord {
  readonly id: string;
  readonly name: string;
  readonly domainId: string;
  readonly passwordHash: string;
  readonly enabled: boolean;
}

/** A role a user holds on a project. */
export interface RoleAssignment {
  readonly userId: string;
  readonly projectId: string;
  readonly role: Role;
}

/** An issued token. `id` is the SHA-256 of the token text; the text itself is never stored. */
export interface TokenRecord {
  readonly id: string;
  readonly userId: string;
  readonly projectId: string;
  readonly roles: readonly Role[];
  readonly issuedAt: string;
  readonly expiresAt: string;
  readonly auditId: string;
}

/** A flavor as stored, with its extra specs. */
export interface FlavorRecord {
  readonly id: string;
  readonly name: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly diskGiB: number;
  readonly swapMiB: number;
  readonly ephemeralGiB: number;
  readonly rxtxFactor: number;
  readonly isPublic: boolean;
  readonly description: string | null;
  readonly extraSpecs: Readonly<Record<string, string>>;
  readonly createdAt: string;
}

/** Glance image visibilities. */
export const VISIBILITIES = ['public', 'private', 'shared', 'community'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

/** Glance image statuses vpmu uses. */
export type ImageStatus = 'queued' | 'active';

/** An image as stored: core fields, free-form string properties and where its data lives. */
export interface ImageRecord {
  readonly id: string;
  readonly name: string | null;
  readonly owner: string;
  readonly visibility: Visibility;
  readonly status: ImageStatus;
  readonly protected: boolean;
  readonly osHidden: boolean;
  readonly diskFormat: string | null;
  readonly containerFormat: string | null;
  readonly minDiskGiB: number;
  readonly minRamMiB: number;
  readonly tags: readonly string[];
  readonly properties: Readonly<Record<string, string>>;
  /** Bytes of uploaded data; null before upload. */
  readonly size: number | null;
  readonly checksum: string | null;
  readonly osHashAlgo: string | null;
  readonly osHashValue: string | null;
  /** Opaque location of the data for the image-file adapter; null before upload. */
  readonly dataLocation: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** Filters for listing images; every given filter must match. */
export interface ImageFilter {
  readonly name?: string;
  readonly owner?: string;
  readonly visibility?: Visibility;
}

/** The service's persistent state. */
export interface Store {
  createProject(project: ProjectRecord): Promise<void>;
  getProject(id: string): Promise<ProjectRecord | undefined>;
  findProject(name: string, domainId: string): Promise<ProjectRecord | undefined>;
  /** Sorted by name. */
  listProjects(): Promise<ProjectRecord[]>;

  createUser(user: UserRecord): Promise<void>;
  getUser(id: string): Promise<UserRecord | undefined>;
  findUser(name: string, domainId: string): Promise<UserRecord | undefined>;
  setPassword(userId: string, passwordHash: string): Promise<void>;

  /** Idempotent: assigning a role the user already holds changes nothing. */
  assignRole(assignment: RoleAssignment): Promise<void>;
  /** The roles a user holds on a project, in ROLES order. */
  listRoles(userId: string, projectId: string): Promise<Role[]>;

  putToken(token: TokenRecord): Promise<void>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  /** Deletes one token (revocation); false when it did not exist. */
  deleteToken(id: string): Promise<boolean>;
  /** Deletes tokens that expired at or before `now`; returns how many. */
  deleteExpiredTokens(now: string): Promise<number>;

  /**
   * Creates a flavor and, in the same transaction, its access list. Rejects with `flavor.exists`
   * when the id or the name is taken.
   */
  createFlavor(flavor: FlavorRecord, accessProjectIds?: readonly string[]): Promise<void>;
  getFlavor(id: string): Promise<FlavorRecord | undefined>;
  /** Sorted by id. */
  listFlavors(): Promise<FlavorRecord[]>;
  /** Deletes the flavor, its extra specs and its access list; false when it did not exist. */
  deleteFlavor(id: string): Promise<boolean>;
  /** Merges `specs` into the flavor's extra specs in one transaction; rejects with `flavor.not_found`. */
  setExtraSpecs(flavorId: string, specs: Readonly<Record<string, string>>): Promise<FlavorRecord>;
  /** Deletes one extra spec; false when the flavor has no such key. */
  deleteExtraSpec(flavorId: string, key: string): Promise<boolean>;
  /** Rejects with `flavor.access_exists` when the project already has access. */
  addFlavorAccess(flavorId: string, projectId: string): Promise<void>;
  /** Project ids with access to a flavor, sorted. */
  listFlavorAccess(flavorId: string): Promise<string[]>;

  /** Rejects with `image.exists` when the id is taken. */
  createImage(image: ImageRecord): Promise<void>;
  getImage(id: string): Promise<ImageRecord | undefined>;
  /** Sorted by creation time, then id. */
  listImages(filter?: ImageFilter): Promise<ImageRecord[]>;
  /** Replaces the whole record (properties and tags included) in one transaction. */
  saveImage(image: ImageRecord): Promise<void>;
  deleteImage(id: string): Promise<boolean>;

  /** Releases resources (the database handle). */
  close(): Promise<void>;
}

/**
 * The Store port: everything the service persists. Adapters live in src/adapters/store/ (memory,
 * SQLite); every adapter passes src/ports/store.contract.ts.
 *
 * Contract: every method is atomic (all of its writes happen, or none); records returned are
 * copies the caller may keep; lists are sorted as documented; a write that would duplicate a
 * unique id or name rejects with a ComputeError whose code says which (`flavor.exists`, …).
 */
import type {
  HostSettings,
  PowerState,
  ServerStatus,
  SortSpec,
  TaskState,
  VmState,
} from '../domain/index.js';
import type { ImageMemberRecord, MemberStatus, MetadefNamespaceRecord } from './image-sharing.js';
import type { InstanceActionRecord } from './instance-actions.js';

export type {
  InstanceActionEventRecord,
  InstanceActionRecord,
  InstanceActionResult,
} from './instance-actions.js';

export { SERVER_STATUSES, type ServerStatus } from '../domain/index.js';
export * from './image-sharing.js';

/** The roles every vpmu has (Keystone's bootstrap roles); their ids are their names. */
export const ROLES = ['admin', 'member', 'reader'] as const;
/** A role's name: one of ROLES, or one an admin created. */
export type Role = string;

/** Role names with the built-in ones first, in ROLES order, then the others by name. */
export function orderRoleNames(names: readonly string[]): string[] {
  const rank = (name: string) => {
    const i = (ROLES as readonly string[]).indexOf(name);
    return i === -1 ? ROLES.length : i;
  };
  return [...new Set(names)].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** A Keystone role. The built-in ones (ROLES) have their name as id and cannot be deleted. */
export interface RoleRecord {
  readonly id: string;
  readonly name: string;
  readonly description: string;
}

/** A Keystone application credential: a secret (kept hashed) standing for a user on a project. */
export interface ApplicationCredentialRecord {
  readonly id: string;
  readonly name: string;
  readonly userId: string;
  readonly projectId: string;
  readonly description: string;
  readonly secretHash: string;
  readonly expiresAt: string | null;
  readonly unrestricted: boolean;
  /** The role ids it carries (a subset of the user's roles on the project when created). */
  readonly roleIds: readonly string[];
}

/** Which role assignments to list; every filter given must match. */
export interface AssignmentFilter {
  readonly userId?: string;
  readonly projectId?: string;
  readonly roleId?: string;
}

/** A Keystone project (tenant). */
export interface ProjectRecord {
  readonly id: string;
  readonly name: string;
  readonly domainId: string;
  readonly description: string;
  readonly enabled: boolean;
  /** Keystone's `parent_id`; projects are flat, so absent means the domain. */
  readonly parentId?: string;
  /** Attributes Keystone keeps beyond its own (`extra`), returned as given. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** A Keystone user; the password is kept only as a scrypt hash. */
export interface UserRecord {
  readonly id: string;
  readonly name: string;
  readonly domainId: string;
  readonly passwordHash: string;
  readonly enabled: boolean;
  readonly defaultProjectId?: string;
  /** Attributes Keystone keeps beyond its own (`email`, `description`, …), returned as given. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** A role a user holds on a project; `role` is the role's id. */
export interface RoleAssignment {
  readonly userId: string;
  readonly projectId: string;
  readonly role: string;
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
  /** How the token was obtained; absent means `["password"]`. */
  readonly methods?: readonly string[];
  /** The application credential it was issued for, if any. */
  readonly applicationCredentialId?: string;
}

/**
 * A token with what its validity depends on now, as getTokenState() reads it: its user, its
 * project, the roles its user holds on that project and its application credential (each absent
 * when gone). Only the fields a validation looks at.
 */
export interface TokenState {
  readonly token: TokenRecord;
  readonly user?: { readonly id: string; readonly name: string; readonly enabled: boolean };
  /** Absent for an unscoped token too. */
  readonly project?: { readonly id: string; readonly name: string; readonly enabled: boolean };
  /** The names of the roles the user holds on the token's project (none when unscoped). */
  readonly heldRoles: readonly Role[];
  readonly applicationCredential?: {
    readonly id: string;
    readonly name: string;
    readonly unrestricted: boolean;
  };
}

/**
 * Consecutive failed password logins of one account (Keystone's `failed_auth_count` and
 * `failed_auth_at`). `subject` is a user id, or the name or id a client gave for an unknown user,
 * so unknown users are locked out exactly as known ones are.
 */
export interface LoginFailures {
  readonly subject: string;
  readonly count: number;
  readonly lastFailureAt: string;
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

/** What flavors can be sorted by; the store breaks ties by creation time, then id. */
export const FLAVOR_SORT_KEYS = [
  'id',
  'name',
  'memoryMiB',
  'diskGiB',
  'vcpus',
  'swapMiB',
  'ephemeralGiB',
  'rxtxFactor',
  'isPublic',
  'description',
  'createdAt',
] as const;
export type FlavorSortKey = (typeof FLAVOR_SORT_KEYS)[number];

/** A filtered, sorted page of flavors; every given filter must match. */
export interface FlavorQuery {
  readonly minMemoryMiB?: number;
  readonly minDiskGiB?: number;
  /**
   * true: public flavors, plus the private ones `accessProjectId` (when given) has access to;
   * false: private flavors only; absent: all.
   */
  readonly isPublic?: boolean;
  readonly accessProjectId?: string;
  /** Sort keys in order (default: id ascending); ties go by createdAt, then id, in the first key's direction. */
  readonly sort?: readonly SortSpec<FlavorSortKey>[];
  /** The page starts after this flavor's place in the order (it need not pass the filters). */
  readonly marker?: string;
  readonly limit?: number;
}

/** A flavor query's sort keys, then createdAt and id in the first key's direction (id asc by default). */
export function flavorOrder(
  sort: readonly SortSpec<FlavorSortKey>[] | undefined,
): SortSpec<FlavorSortKey>[] {
  const keys: SortSpec<FlavorSortKey>[] =
    sort === undefined || sort.length === 0 ? [{ key: 'id', dir: 'asc' }] : [...sort];
  const dir = keys[0]?.dir ?? 'asc';
  return [...keys, { key: 'createdAt', dir }, { key: 'id', dir }];
}

/** What a paged query answers when its marker names no record. */
export const MARKER_NOT_FOUND = 'marker-not-found';

/** Glance image visibilities. */
export const VISIBILITIES = ['public', 'private', 'shared', 'community'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

/** Glance image statuses vpmu uses. */
export type ImageStatus = 'queued' | 'active' | 'deactivated';

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

/** A server's fault, as Nova shows it when the server is in ERROR. */
export interface ServerFault {
  /** HTTP-style code (Nova: 500 for most build failures). */
  readonly code: number;
  readonly message: string;
  /** vpmu's stable error code. */
  readonly errorCode: string;
  /**
   * What only administrators see (Nova shows a fault's details to admins): the full cause, which
   * may name host paths and libvirt's own words. Absent in records written before it existed.
   */
  readonly details?: string;
  readonly created: string;
}

/** The vPMU decision recorded on a server, with where it came from. */
export interface ServerPmu {
  readonly requested: { readonly flavor: string | null; readonly image: string | null };
  readonly resolved: boolean | null;
  readonly source: string;
  /** Null until the guest is designed on a host. */
  readonly effective: 'on' | 'off' | null;
  readonly reason: string | null;
}

/** The image a server was built from, as it was at boot (or rebuild). */
export interface ServerImage {
  readonly id: string;
  readonly name: string;
  readonly owner: string;
  readonly properties: Readonly<Record<string, string>>;
  readonly dataLocation: string | null;
  /** The declared disk_format; absent in records written before it was kept. */
  readonly diskFormat?: string | null;
  /** Glance's min_ram (MiB) and min_disk (GiB) and the data's size in bytes, checked on resize; absent (0) in older records. */
  readonly minRamMiB?: number;
  readonly minDiskGiB?: number;
  readonly sizeBytes?: number | null;
}

/** Nova's `OS-DCF:diskConfig` values. */
export type DiskConfig = 'AUTO' | 'MANUAL';

/** A resize in progress (VERIFY_RESIZE): what revert restores and what confirm keeps. */
export interface ServerResize {
  readonly oldFlavor: FlavorRecord;
  readonly oldClaimId: string;
  readonly oldPmu: ServerPmu | null;
  readonly oldDomainXml: string | null;
  /**
   * A cold migration's source host, which keeps the stopped guest (and `oldClaimId`) until the
   * move is confirmed; absent for a resize on the same host.
   */
  readonly sourceHost?: string;
  /** The migration record (os-migrations) of this resize or move; absent in older records. */
  readonly migrationId?: number;
}

/** Nova's migration types (os-migrations `migration_type`). */
export type MigrationType = 'migration' | 'evacuation' | 'resize';

/**
 * A move of a server between hosts, or a resize (Nova's Migration object, os-migrations). Status
 * as Nova's: migrate and resize go `migrating` → `finished` → `confirmed` or `reverted` (`error`
 * on failure); an evacuation `accepted` → `done` (rebuilt on the destination) → `completed`
 * (its source cleaned up once back), or `failed`.
 */
export interface MigrationRecord {
  readonly id: number;
  readonly uuid: string;
  readonly serverId: string;
  readonly projectId: string;
  readonly userId: string;
  readonly migrationType: MigrationType;
  readonly status: string;
  readonly sourceCompute: string;
  /** Null until the scheduler picked it. */
  readonly destCompute: string | null;
  readonly oldFlavorId: string;
  readonly newFlavorId: string;
  /**
   * An evacuation's claim on the source, released when the source is back and has removed the
   * guest; null otherwise.
   */
  readonly sourceClaimId: string | null;
  readonly createdAt: string;
  readonly updatedAt: string | null;
}

/** A server (Nova instance). Its id is the libvirt domain's uuid. */
/** How saveServer compares before it swaps. */
export interface SaveServerOptions {
  /** The `version` the saved record was read with (null: it had none). */
  readonly ifVersion: number | null;
  /**
   * An instance action of the server recorded (as putInstanceAction) in the same write, when the
   * save lands; not when it is refused.
   */
  readonly action?: InstanceActionRecord;
}

export interface ServerRecord {
  readonly id: string;
  readonly name: string;
  readonly projectId: string;
  readonly userId: string;
  readonly flavor: FlavorRecord;
  readonly image: ServerImage;
  /** Compute host; null before scheduling. */
  readonly host: string | null;
  /** libvirt domain name (`instance-<uuid>`). */
  readonly domainName: string;
  /**
   * Nova's status, always `serverStatus(vmState, taskState)`: the servers service computes it on
   * every save and never sets it by hand. Kept in the document for listing and older readers.
   */
  readonly status: ServerStatus;
  /** Nova vm_state: building, active, stopped, resized, error, deleted. */
  readonly vmState: VmState;
  /** Nova task_state (scheduling, spawning, deleting, …); null when idle. */
  readonly taskState: TaskState | null;
  /** Nova power_state number: 0 nostate, 1 running, 4 shutdown. */
  readonly powerState: PowerState;
  readonly fault: ServerFault | null;
  readonly pmu: ServerPmu | null;
  /** The allocation consumer holding this server's resources; null when nothing is claimed. */
  readonly claimId: string | null;
  readonly resize: ServerResize | null;
  /** The domain XML libvirt read back after the last start, for inspection. */
  readonly domainXml: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly launchedAt: string | null;
  /** The server group it joined at create (`os:scheduler_hints.group`); absent when none. */
  readonly serverGroupId?: string;
  /** `same_host` / `different_host` hints given at create; absent when none. */
  readonly hostHints?: HostHintRecord;
  /**
   * The availability zone (Nova's `instance.availability_zone`): the one asked at create until the
   * scheduler places the server, then its host's. Absent when none was asked and it has no host
   * yet (and in records from before zones).
   */
  readonly availabilityZone?: string;
  /**
   * The zone the server is pinned to (Nova's request spec `availability_zone`): the one asked at
   * create or unshelve; absent when none was asked, so moves may cross zones.
   */
  readonly requestedZone?: string;
  /** The host an admin forced at create (`availability_zone: "zone:host"`); absent when none. */
  readonly forcedHost?: string;
  /**
   * Nova's server lock; null when unlocked. Kept apart from the rest of the record: saveServer
   * leaves it as it is (an action finishing after a lock must not undo it); setServerLock sets it.
   */
  readonly lock: ServerLock | null;
  /** Nova's server tags (2.26), in the order added; like the lock, only updateServerTags sets them. */
  readonly tags: readonly string[];
  /**
   * How many compare-and-swap saves the record has had (ServerWork.save counts them); absent on a
   * record never saved so. A save `ifVersion` the version it read is refused once another landed.
   */
  readonly version?: number;
  /*
   * The fields a user sets on create, update and rebuild. Optional only because records written
   * before they were kept lack them; readers take the defaults: {}, '', '', null, MANUAL.
   */
  /** Nova's server metadata (at most 128 items, keys 1-255 and values up to 255 characters). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** An IPv4 address, or ''. */
  readonly accessIPv4?: string;
  /** An IPv6 address, or ''. */
  readonly accessIPv6?: string;
  readonly description?: string | null;
  readonly diskConfig?: DiskConfig;
  /** The reservation (`r-…`) of the create request, shared by a multiple create's servers. */
  readonly reservationId?: string;
  /** The server's position in its multiple create (0 for a single one). */
  readonly launchIndex?: number;
  /** The key pair given at create or rebuild (Nova's key_name and key_data); absent: none. */
  readonly keypair?: ServerKeypair | null;
  /** User data, base64 as the API took it; absent or null: none. */
  readonly userData?: string | null;
  /** Whether the server has a config drive (asked for, required by its image, or forced). */
  readonly configDrive?: boolean;
  /** The image data locations of a kernel boot's kernel and ramdisk; absent or null: none. */
  readonly bootImages?: ServerBootImages | null;
  /**
   * While shelved: the image holding its root disk (Nova's system metadata `shelved_image_id`)
   * and when it was shelved (`shelved_at`); absent or null otherwise.
   */
  readonly shelved?: ServerShelved | null;
  /** When a DELETE soft-deleted it (Nova's deleted_at of a SOFT_DELETED server); absent or null: not. */
  readonly softDeletedAt?: string | null;
}

/** A shelved server's image and shelve time. */
export interface ServerShelved {
  readonly imageId: string;
  readonly at: string;
}

/** The key pair a server was given, as it was then (a later delete of the key pair keeps it). */
export interface ServerKeypair {
  readonly name: string;
  readonly type: KeypairType;
  readonly publicKey: string;
}

/** The images of a kernel boot, by id and image data location. */
export interface ServerBootImages {
  readonly kernel: { readonly id: string; readonly dataLocation: string };
  readonly ramdisk?: { readonly id: string; readonly dataLocation: string };
}

/** Servers a server was asked to run beside (`same_host`) or away from (`different_host`). */
export interface HostHintRecord {
  readonly sameHost?: readonly string[];
  readonly differentHost?: readonly string[];
}

/** Who locked a server (Nova's `locked_by`: the owner's project or an admin) and why. */
export interface ServerLock {
  readonly by: 'owner' | 'admin';
  /** Nova's `locked_reason` (2.73); null when none was given. */
  readonly reason: string | null;
}

/** Filters for listing servers; every given filter must match. */
export interface ServerFilter {
  readonly projectId?: string;
}

/** Nova's server group policies (2.64 names; before 2.64 each is a one-item `policies` list). */
export const SERVER_GROUP_POLICIES = [
  'affinity',
  'anti-affinity',
  'soft-affinity',
  'soft-anti-affinity',
] as const;
export type ServerGroupPolicy = (typeof SERVER_GROUP_POLICIES)[number];

/** A server group: where its members may run relative to each other. */
export interface ServerGroupRecord {
  readonly id: string;
  readonly name: string;
  readonly projectId: string;
  readonly userId: string;
  readonly policy: ServerGroupPolicy;
  /** Nova's `rules` (2.64): only `max_server_per_host`, only with `anti-affinity`. */
  readonly maxServerPerHost: number | null;
  /** Server ids, in the order they joined. */
  readonly members: readonly string[];
  readonly createdAt: string;
}

/** Nova's key pair types: an OpenSSH public key, or an X.509 certificate (2.2+). */
export type KeypairType = 'ssh' | 'x509';

/** A user's key pair (Nova's os-keypairs): the public half only; names are unique per user. */
export interface KeypairRecord {
  /** Nova's integer id, assigned by the store. */
  readonly id: number;
  readonly userId: string;
  readonly name: string;
  readonly type: KeypairType;
  readonly publicKey: string;
  readonly fingerprint: string;
  readonly createdAt: string;
}

/**
 * Whose quota limits (Nova's quota tables): a quota class (`default` is every project's
 * default), a project, or one user in a project.
 */
export type QuotaScope =
  | { readonly kind: 'class'; readonly name: string }
  | { readonly kind: 'project'; readonly projectId: string }
  | { readonly kind: 'user'; readonly projectId: string; readonly userId: string };

/** Placement-style resource classes a claim consumes. */
export type ClaimResourceClass = 'VCPU' | 'MEMORY_MB' | 'DISK_GB';

/** One resource class of a compute host. */
export interface HostInventory {
  readonly total: number;
  readonly reserved: number;
  readonly allocationRatio: number;
}

/** A compute host as registered (the local hypervisor, or any other). */
/**
 * Nova's host aggregate: a named set of compute hosts with metadata. Its availability zone is the
 * metadata key `availability_zone`, as in Nova.
 */
export interface AggregateRecord {
  /** Nova's integer id, given by the store at create. */
  readonly id: number;
  readonly uuid: string;
  readonly name: string;
  /** Host names, in the order added. */
  readonly hosts: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly createdAt: string;
  readonly updatedAt: string | null;
}

export interface ComputeHostRecord {
  readonly name: string;
  readonly hypervisorUri: string;
  readonly hypervisorType: string;
  /** libvirt's encoding of the hypervisor's version (Nova's `hypervisor_version`). */
  readonly hypervisorVersion: number;
  /** The address this host is reached on (Nova's `host_ip`, from its `my_ip`). */
  readonly hostIp: string;
  /** Nova's `cpu_info`: the host CPU as libvirt reports it, as JSON text. */
  readonly cpuInfo: string;
  readonly enabled: boolean;
  readonly inventory: Readonly<Record<ClaimResourceClass, HostInventory>>;
  /** Sorted. */
  readonly traits: readonly string[];
  /**
   * The guest settings the host designs with (virt type, architecture, CPU mode and model), so
   * any process can tell which hosts can run a guest. Absent in records from before they were
   * kept; such a host passes the design filter.
   */
  readonly settings?: HostSettings;
  /** Why an operator disabled the host (os-services); null or absent when none was given. */
  readonly disabledReason?: string | null;
  /** An operator marked the host's compute service down (os-services `forced_down`). */
  readonly forcedDown?: boolean;
  /**
   * When the host's compute service last reported alive (ISO time; Nova's service `updated_at`,
   * `last_seen_up`). Null or absent when it never reported: see serviceState().
   */
  readonly heartbeatAt?: string | null;
  readonly updatedAt: string;
}

/** Resources held on a host by one consumer (a server, or a server's pending resize). */
export interface AllocationRecord {
  readonly consumerId: string;
  readonly host: string;
  readonly resources: Readonly<Record<ClaimResourceClass, number>>;
}

/** What the allocations on one host add up to, per resource class. */
export type HostUsage = Readonly<Record<ClaimResourceClass, number>>;

/** What `Store.withLock` did: ran the work (with its value), or skipped it (the lock was held). */
export type LockOutcome<T> = { readonly ran: true; readonly value: T } | { readonly ran: false };

/**
 * What changed, since a point of the store's host change sequence, in what scheduling reads about
 * compute hosts: their records (put, delete), their usage (claims, releases) and the aggregates
 * (membership, zones). Heartbeats are no change.
 */
export interface HostChanges {
  /** The point this answer is complete up to: ask from it next time. */
  readonly seq: number;
  /** The hosts whose record or usage changed, as they are now, sorted by name. */
  readonly hosts: readonly ComputeHostRecord[];
  /** What is used on each of `hosts` (a host absent here has nothing used). */
  readonly usage: ReadonlyMap<string, HostUsage>;
  /** The hosts whose record was deleted, sorted. */
  readonly removed: readonly string[];
  /** Every aggregate, sorted by id, when any changed; undefined when none did. */
  readonly aggregates?: readonly AggregateRecord[];
}

/** The service's persistent state. */
export interface Store {
  /**
   * Runs `work` holding the lock `name` against every other holder sharing this store: on
   * PostgreSQL every process (an advisory lock), elsewhere this process. `ifHeld` 'wait' queues
   * behind the holder; 'skip' resolves `{ ran: false }` at once (periodic sweeps one process runs).
   */
  withLock<T>(
    name: string,
    work: () => Promise<T>,
    ifHeld?: 'wait' | 'skip',
  ): Promise<LockOutcome<T>>;
  /**
   * True when other processes may write this store while this one runs (PostgreSQL, which several
   * vpmu processes share): what one request read may be stale by the next, so nothing read from
   * it may be kept across requests. Absent means false (an SQLite file belongs to one process).
   */
  readonly sharedWithOtherProcesses?: boolean;

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
  /** The names of the roles a user holds on a project, in ROLES order, then by name. */
  listRoles(userId: string, projectId: string): Promise<Role[]>;

  // Identity administration (Keystone v3). A write that would duplicate a name rejects with
  // `identity.conflict`.
  /** Replaces a project's fields (not its id or domain). */
  updateProject(project: ProjectRecord): Promise<void>;
  /** Deletes a project with its role assignments, tokens and application credentials. */
  deleteProject(id: string): Promise<boolean>;
  /** Sorted by name. */
  listUsers(): Promise<UserRecord[]>;
  /** Replaces a user's fields (not its id or domain). */
  updateUser(user: UserRecord): Promise<void>;
  /** Deletes a user with its role assignments, tokens and application credentials. */
  deleteUser(id: string): Promise<boolean>;
  createRole(role: RoleRecord): Promise<void>;
  getRole(id: string): Promise<RoleRecord | undefined>;
  findRole(name: string): Promise<RoleRecord | undefined>;
  /** Sorted by name. */
  listRoleRecords(): Promise<RoleRecord[]>;
  updateRole(role: RoleRecord): Promise<void>;
  /** Deletes a role and every assignment of it. */
  deleteRole(id: string): Promise<boolean>;
  /** False when the user did not hold the role on the project. */
  unassignRole(assignment: RoleAssignment): Promise<boolean>;
  /** Sorted by user, project, role id. */
  listAssignments(filter: AssignmentFilter): Promise<RoleAssignment[]>;
  /** Deletes the tokens of a user or of a project (revocation); returns how many. */
  deleteTokensOf(filter: {
    readonly userId?: string;
    readonly projectId?: string;
  }): Promise<number>;
  createApplicationCredential(credential: ApplicationCredentialRecord): Promise<void>;
  getApplicationCredential(id: string): Promise<ApplicationCredentialRecord | undefined>;
  /** One user's, sorted by name. */
  listApplicationCredentials(userId: string): Promise<ApplicationCredentialRecord[]>;
  /** Deletes it and the tokens issued for it. */
  deleteApplicationCredential(id: string): Promise<boolean>;

  putToken(token: TokenRecord): Promise<void>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  /**
   * A token with its user, project, held roles and application credential, read together (one
   * query on SQL stores: every request of an API process sharing its store validates this way);
   * undefined when the token is unknown.
   */
  getTokenState(id: string): Promise<TokenState | undefined>;
  /** Deletes one token (revocation); false when it did not exist. */
  deleteToken(id: string): Promise<boolean>;
  /** Deletes tokens that expired at or before `now`; returns how many. */
  deleteExpiredTokens(now: string): Promise<number>;

  /** The failed logins counted for a subject; undefined when none are. */
  getLoginFailures(subject: string): Promise<LoginFailures | undefined>;
  /**
   * Counts one more failed login of `subject` at `at`, atomically, and returns the new count.
   * In the same transaction it first forgets every subject whose last failure was at or before
   * `forgetUpTo` (this one included, which then starts again at 1), so the table stays bounded.
   */
  recordLoginFailure(subject: string, at: string, forgetUpTo: string): Promise<LoginFailures>;
  /** Forgets a subject's failed logins (after a successful one). */
  clearLoginFailures(subject: string): Promise<void>;

  /**
   * Creates a flavor and, in the same transaction, its access list. Rejects with `flavor.exists`
   * when the id or the name is taken.
   */
  createFlavor(flavor: FlavorRecord, accessProjectIds?: readonly string[]): Promise<void>;
  getFlavor(id: string): Promise<FlavorRecord | undefined>;
  /** Sorted by id. */
  listFlavors(): Promise<FlavorRecord[]>;
  /**
   * One page of flavors, filtered and sorted in the database; MARKER_NOT_FOUND when the query's
   * marker names no flavor.
   */
  queryFlavors(query: FlavorQuery): Promise<FlavorRecord[] | typeof MARKER_NOT_FOUND>;
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

  /**
   * Rejects with `server.exists` when the id is taken. `action` (its create action) is recorded
   * with it, in the same write: both or neither.
   */
  createServer(server: ServerRecord, action?: InstanceActionRecord): Promise<void>;
  getServer(id: string): Promise<ServerRecord | undefined>;
  /** Sorted by creation time, then id. */
  listServers(filter?: ServerFilter): Promise<ServerRecord[]>;
  /**
   * Replaces the record but for its lock and tags, which keep their stored values; rejects with
   * `server.not_found`. createServer stores the given lock and tags. With `ifVersion`, a
   * compare-and-swap: the save happens only if the stored record's `version` is still that one
   * (null: it has none), else it rejects with `server.conflict` and changes nothing.
   */
  saveServer(server: ServerRecord, options?: SaveServerOptions): Promise<void>;
  /**
   * Deletes the server's record (false when there was none); `action`, an instance action of it,
   * is recorded (as putInstanceAction) in the same write either way.
   */
  deleteServer(id: string, action?: InstanceActionRecord): Promise<boolean>;
  /** Sets or clears (null) a server's lock; rejects with `server.not_found`. */
  setServerLock(id: string, lock: ServerLock | null): Promise<void>;
  /**
   * Replaces a server's tags with what `edit` makes of the current ones, atomically (no other tag
   * change runs in between); returns the new tags. `edit` may throw to change nothing; rejects
   * with `server.not_found` when there is no such server.
   */
  updateServerTags(
    id: string,
    edit: (current: readonly string[]) => readonly string[],
  ): Promise<readonly string[]>;

  /** Rejects with `server.group_exists` when the id is taken. */
  createServerGroup(group: ServerGroupRecord): Promise<void>;
  getServerGroup(id: string): Promise<ServerGroupRecord | undefined>;
  /** Sorted by creation time, then id; optionally one project's. */
  listServerGroups(projectId?: string): Promise<ServerGroupRecord[]>;
  deleteServerGroup(id: string): Promise<boolean>;
  /** Adds a server to a group (once); false when the group does not exist. */
  addServerGroupMember(groupId: string, serverId: string): Promise<boolean>;
  /** Takes a server out of every group it is in (when it is deleted). */
  removeServerGroupMember(serverId: string): Promise<void>;

  /**
   * Stores a key pair with a new id, atomically checking that the user has no key pair of that
   * name (else rejects with `keypair.exists`) and holds fewer than `maxPerUser` (else rejects with
   * `keypair.quota_exceeded`).
   */
  createKeypair(keypair: Omit<KeypairRecord, 'id'>, maxPerUser: number): Promise<KeypairRecord>;
  getKeypair(userId: string, name: string): Promise<KeypairRecord | undefined>;
  /** One user's key pairs, sorted by name. */
  listKeypairs(userId: string): Promise<KeypairRecord[]>;
  deleteKeypair(userId: string, name: string): Promise<boolean>;

  /**
   * Shares an image with a project (status pending), atomically checking that the project is not
   * a member yet (else rejects with `image.member_exists`) and that the image has fewer than
   * `maxPerImage` members (else rejects with `image.over_limit`); rejects with `image.not_found`.
   */
  addImageMember(member: ImageMemberRecord, maxPerImage: number): Promise<void>;
  getImageMember(imageId: string, memberId: string): Promise<ImageMemberRecord | undefined>;
  /** An image's members, sorted by creation time, then member id. */
  listImageMembers(imageId: string): Promise<ImageMemberRecord[]>;
  /** The images shared with a project, any status. */
  listImageMemberships(memberId: string): Promise<ImageMemberRecord[]>;
  /** Sets a member's status; undefined when there is no such member. */
  setImageMemberStatus(
    imageId: string,
    memberId: string,
    status: MemberStatus,
    at: string,
  ): Promise<ImageMemberRecord | undefined>;
  deleteImageMember(imageId: string, memberId: string): Promise<boolean>;

  /** Rejects with `metadef.exists` when the name is taken. */
  createMetadefNamespace(namespace: MetadefNamespaceRecord): Promise<void>;
  getMetadefNamespace(name: string): Promise<MetadefNamespaceRecord | undefined>;
  /** Sorted by name. */
  listMetadefNamespaces(): Promise<MetadefNamespaceRecord[]>;
  /**
   * Replaces the namespace called `name` (which the record may rename, rejecting with
   * `metadef.exists` when the new name is taken); rejects with `metadef.not_found`.
   */
  saveMetadefNamespace(name: string, namespace: MetadefNamespaceRecord): Promise<void>;
  deleteMetadefNamespace(name: string): Promise<boolean>;

  /** The quota limits set for one scope, by resource name (-1 is unlimited); {} when none are. */
  getQuotaLimits(scope: QuotaScope): Promise<Record<string, number>>;
  /** getQuotaLimits() of each scope, in the order given, in one read. */
  getQuotaLimitsOf(scopes: readonly QuotaScope[]): Promise<Record<string, number>[]>;
  /** Creates or replaces the given limits of a scope in one transaction; the others stay. */
  setQuotaLimits(scope: QuotaScope, limits: Readonly<Record<string, number>>): Promise<void>;
  /**
   * Deletes every limit of a scope, in one transaction; a project's scope takes its users' limits
   * with it (Nova's destroy_all_by_project).
   */
  deleteQuotaLimits(scope: QuotaScope): Promise<void>;

  /** Creates or replaces an instance action (by server id and request id). */
  putInstanceAction(action: InstanceActionRecord): Promise<void>;
  /** A server's instance actions, deleted servers' too, oldest first (start time, request id). */
  listInstanceActions(serverId: string): Promise<InstanceActionRecord[]>;

  /**
   * Records a new migration (a cold migration, an evacuation or a resize) and gives it the next
   * integer id (Nova's migration id); returns it as stored.
   */
  createMigration(migration: Omit<MigrationRecord, 'id'>): Promise<MigrationRecord>;
  /** Replaces a migration's record (by id). */
  saveMigration(migration: MigrationRecord): Promise<void>;
  /** Every migration, deleted servers' too, by id. */
  listMigrations(): Promise<MigrationRecord[]>;
  /** Stores an aggregate with a new id; rejects with `aggregate.exists` when the name is taken. */
  createAggregate(aggregate: Omit<AggregateRecord, 'id'>): Promise<AggregateRecord>;
  getAggregate(id: number): Promise<AggregateRecord | undefined>;
  /** Sorted by id. */
  listAggregates(): Promise<AggregateRecord[]>;
  /**
   * Replaces the aggregate with the record's id, rejecting with `aggregate.exists` when a rename
   * takes another's name and with `aggregate.not_found` when there is no such aggregate.
   */
  saveAggregate(aggregate: AggregateRecord): Promise<void>;
  deleteAggregate(id: number): Promise<boolean>;

  /**
   * Creates or replaces a compute host's record (inventory, traits, enabled). A record without
   * `heartbeatAt` (null or absent) keeps the heartbeat already stored.
   */
  putComputeHost(host: ComputeHostRecord): Promise<void>;
  /**
   * Records that the host's compute service is alive at `at` (ISO time): writes the heartbeat
   * alone, never the fields a concurrent writer (an operator, a registration) may be changing.
   * False for an unknown host.
   */
  reportHeartbeat(host: string, at: string): Promise<boolean>;
  /**
   * The hosts whose last heartbeat is before `before` (ISO time), sorted: the silent ones. A host
   * that never reported is not among them (serviceState counts it up).
   */
  silentHosts(before: string): Promise<string[]>;
  getComputeHost(name: string): Promise<ComputeHostRecord | undefined>;
  /** Sorted by name. */
  listComputeHosts(): Promise<ComputeHostRecord[]>;
  /** Forgets a compute host's record; false when there was none. */
  deleteComputeHost(name: string): Promise<boolean>;
  /**
   * Claims resources on a host for a consumer, atomically: inside one transaction it re-reads the
   * host's inventory and what is allocated on it, and inserts the allocation only when every
   * resource class still fits ((total - reserved) x ratio - used >= requested). Returns false
   * (and writes nothing) when it does not fit, the host is unknown or disabled, or the consumer
   * already holds a claim.
   */
  claim(allocation: AllocationRecord): Promise<boolean>;
  /** Releases a consumer's claim; false when it held none. */
  releaseClaim(consumerId: string): Promise<boolean>;
  /** Every allocation, optionally on one host, sorted by consumer id. */
  listAllocations(host?: string): Promise<AllocationRecord[]>;
  /**
   * What the allocations on each host add up to; a host with none may be absent. The scheduler reads
   * this on every boot, so it must not cost more with every server recorded.
   */
  usageByHost(): Promise<Map<string, HostUsage>>;
  /**
   * The current point of the host change sequence, which every write that changes what
   * scheduling reads about a host moves on (a heartbeat does not). Read it before a full read of
   * hosts, usage and aggregates, then follow with hostChangesSince().
   */
  hostChangeSeq(): Promise<number>;
  /**
   * What changed since `seq` (a point from hostChangeSeq() or an earlier answer), in one read:
   * nothing is ever missed, even when writers in other processes commit out of order. Changes
   * after the answer's `seq` may show in it too; they come again next time.
   */
  hostChangesSince(seq: number): Promise<HostChanges>;

  /** Releases resources (the database handle). */
  close(): Promise<void>;
}

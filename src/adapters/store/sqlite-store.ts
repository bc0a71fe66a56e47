/**
 * The embedded Store: Kysely over better-sqlite3, one file under the state directory. Migrations
 * are code, applied in order at open; each write runs in one transaction.
 */
import Database from 'better-sqlite3';
import { closeSync, openSync, statSync } from 'node:fs';
import {
  Kysely,
  Migrator,
  PostgresAdapter,
  SqliteDialect,
  sql,
  type CreateTableBuilder,
  type Generated,
  type Migration,
  type Selectable,
  type SqliteDatabase,
  type Transaction,
} from 'kysely';
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
import { fitsOnHost } from '../../ports/claims.js';
import { ProcessLocks } from './process-locks.js';
import { readTokenState, toTokenRecord } from './token-state.js';
import {
  ROLES,
  orderRoleNames,
  type ApplicationCredentialRecord,
  type AssignmentFilter,
  type RoleRecord,
  type AggregateRecord,
  type AllocationRecord,
  type ClaimResourceClass,
  type ComputeHostRecord,
  type HostUsage,
  type HostChanges,
  type ServerFilter,
  type ServerGroupRecord,
  type KeypairRecord,
  type QuotaScope,
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
  type ProjectRecord,
  type Role,
  type RoleAssignment,
  type Store,
  type LoginFailures,
  type TokenRecord,
  type TokenState,
  type UserRecord,
  type Visibility,
  type ImageStatus,
  type LockOutcome,
} from '../../ports/store.js';

export interface Tables {
  projects: {
    id: string;
    name: string;
    domain_id: string;
    description: string;
    enabled: number;
    parent_id: string | null;
    /** JSON object of Keystone's extra attributes. */
    extra: Generated<string>;
  };
  users: {
    id: string;
    name: string;
    domain_id: string;
    password_hash: string;
    enabled: number;
    default_project_id: string | null;
    /** JSON object of Keystone's extra attributes. */
    extra: Generated<string>;
  };
  role_assignments: { user_id: string; project_id: string; role: string };
  roles: { id: string; name: string; description: string };
  tokens: {
    id: string;
    user_id: string;
    project_id: string;
    roles: string;
    issued_at: string;
    expires_at: string;
    audit_id: string;
    /** JSON array; null means ["password"]. */
    methods: string | null;
    app_cred_id: string | null;
  };
  application_credentials: {
    id: string;
    name: string;
    user_id: string;
    project_id: string;
    description: string;
    secret_hash: string;
    expires_at: string | null;
    unrestricted: number;
    /** JSON array of role ids. */
    role_ids: string;
  };
  flavors: {
    id: string;
    name: string;
    vcpus: number;
    memory_mib: number;
    disk_gib: number;
    swap_mib: number;
    ephemeral_gib: number;
    rxtx_factor: number;
    is_public: number;
    description: string | null;
    created_at: string;
  };
  flavor_extra_specs: { flavor_id: string; key: string; value: string };
  flavor_access: { flavor_id: string; project_id: string };
  images: {
    id: string;
    name: string | null;
    owner: string;
    visibility: string;
    status: string;
    protected: number;
    os_hidden: number;
    disk_format: string | null;
    container_format: string | null;
    min_disk_gib: number;
    min_ram_mib: number;
    tags: string;
    size: number | null;
    checksum: string | null;
    os_hash_algo: string | null;
    os_hash_value: string | null;
    data_location: string | null;
    created_at: string;
    updated_at: string;
  };
  image_properties: { image_id: string; key: string; value: string };
  servers: {
    id: string;
    project_id: string;
    created_at: string;
    doc: string;
    locked_by: 'owner' | 'admin' | null;
    locked_reason: string | null;
    /** JSON array of the server's tags, in the order added. */
    tags: string;
  };
  compute_hosts: {
    name: string;
    /** The ComputeHostRecord less its heartbeat, as JSON. */
    doc: string;
    /** Its own column, so a heartbeat writes nothing else (reportHeartbeat). */
    heartbeat_at: string | null;
  };
  server_groups: { id: string; project_id: string; created_at: string; doc: string };
  server_group_members: { group_id: string; server_id: string; position: number };
  allocations: {
    consumer_id: string;
    host: string;
    vcpu: number;
    memory_mb: number;
    disk_gb: number;
  };
  host_usage: { host: string; vcpu: number; memory_mb: number; disk_gb: number };
  /** The host change sequence's one row (id 1): its point, and where aggregates last changed. */
  host_change_seq: { id: number; seq: number; aggregates_seq: number };
  /** Where each host last changed in that sequence. */
  host_changes: { host: string; seq: number };
  login_failures: { subject: string; count: number; last_failure_at: string };
  image_members: {
    image_id: string;
    member_id: string;
    status: MemberStatus;
    created_at: string;
    updated_at: string;
  };
  metadef_namespaces: { name: string; doc: string };
  keypairs: {
    id: Generated<number>;
    user_id: string;
    name: string;
    type: 'ssh' | 'x509';
    public_key: string;
    fingerprint: string;
    created_at: string;
  };
  quota_limits: {
    kind: 'class' | 'project' | 'user';
    /** The class name or the project id. */
    owner: string;
    /** '' unless kind is user. */
    user_id: string;
    resource: string;
    hard_limit: number;
  };
  aggregates: {
    id: Generated<number>;
    name: string;
    /** The AggregateRecord but its id and name, as JSON. */
    doc: string;
  };
  instance_actions: {
    server_id: string;
    request_id: string;
    start_time: string;
    /** The InstanceActionRecord, events included, as JSON. */
    doc: string;
  };
  migrations: {
    /** Nova's integer migration id. */
    id: Generated<number>;
    server_id: string;
    /** The MigrationRecord less its id, as JSON. */
    doc: string;
  };
}

/** The SQL engines the store runs on: the embedded SQLite file, or a PostgreSQL server. */
export type StoreDialect = 'sqlite' | 'postgres';

/**
 * The few column types SQLite and PostgreSQL spell differently, for the migrations (SQLite's are
 * the ones it always had).
 */
function columnTypes(db: Kysely<unknown>) {
  return db.getExecutor().adapter instanceof PostgresAdapter
    ? ({ real: 'double precision', bigInteger: 'bigint', autoIncrement: 'serial' } as const)
    : ({ real: 'real', bigInteger: 'integer', autoIncrement: 'integer' } as const);
}

/** An integer `id` primary key the database numbers: `serial` on PostgreSQL, AUTOINCREMENT on SQLite. */
function withIdColumn<T extends string, C extends string>(
  db: Kysely<unknown>,
  table: CreateTableBuilder<T, C>,
): CreateTableBuilder<T, C | 'id'> {
  return columnTypes(db).autoIncrement === 'serial'
    ? table.addColumn('id', 'serial', (c) => c.primaryKey())
    : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
}

/** Schema history. Append only: a released migration is never edited. */
export const MIGRATIONS: Record<string, Migration> = {
  '0001_identity_flavors_images': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('projects')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('domain_id', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addUniqueConstraint('projects_name_domain', ['name', 'domain_id'])
        .execute();
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('domain_id', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addUniqueConstraint('users_name_domain', ['name', 'domain_id'])
        .execute();
      await db.schema
        .createTable('role_assignments')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('project_id', 'text', (c) =>
          c.notNull().references('projects.id').onDelete('cascade'),
        )
        .addColumn('role', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('role_assignments_pk', ['user_id', 'project_id', 'role'])
        .execute();
      await db.schema
        .createTable('tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('roles', 'text', (c) => c.notNull())
        .addColumn('issued_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('audit_id', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('flavors')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('vcpus', 'integer', (c) => c.notNull())
        .addColumn('memory_mib', 'integer', (c) => c.notNull())
        .addColumn('disk_gib', 'integer', (c) => c.notNull())
        .addColumn('swap_mib', 'integer', (c) => c.notNull())
        .addColumn('ephemeral_gib', 'integer', (c) => c.notNull())
        .addColumn('rxtx_factor', columnTypes(db).real, (c) => c.notNull())
        .addColumn('is_public', 'integer', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('flavor_extra_specs')
        .addColumn('flavor_id', 'text', (c) =>
          c.notNull().references('flavors.id').onDelete('cascade'),
        )
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('flavor_extra_specs_pk', ['flavor_id', 'key'])
        .execute();
      await db.schema
        .createTable('flavor_access')
        .addColumn('flavor_id', 'text', (c) =>
          c.notNull().references('flavors.id').onDelete('cascade'),
        )
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('flavor_access_pk', ['flavor_id', 'project_id'])
        .execute();
      await db.schema
        .createTable('images')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text')
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('visibility', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('protected', 'integer', (c) => c.notNull())
        .addColumn('os_hidden', 'integer', (c) => c.notNull())
        .addColumn('disk_format', 'text')
        .addColumn('container_format', 'text')
        .addColumn('min_disk_gib', 'integer', (c) => c.notNull())
        .addColumn('min_ram_mib', 'integer', (c) => c.notNull())
        .addColumn('tags', 'text', (c) => c.notNull())
        .addColumn('size', columnTypes(db).bigInteger)
        .addColumn('checksum', 'text')
        .addColumn('os_hash_algo', 'text')
        .addColumn('os_hash_value', 'text')
        .addColumn('data_location', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('image_properties')
        .addColumn('image_id', 'text', (c) =>
          c.notNull().references('images.id').onDelete('cascade'),
        )
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('image_properties_pk', ['image_id', 'key'])
        .execute();
    },
  },
  '0002_servers_hosts_allocations': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Servers and hosts are kept as JSON documents with their lookup columns beside them: the
      // service reads and writes them whole, and the claim below needs only the numbers.
      await db.schema
        .createTable('servers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('servers_project')
        .on('servers')
        .columns(['project_id', 'created_at'])
        .execute();
      await db.schema
        .createTable('compute_hosts')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('doc', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('allocations')
        .addColumn('consumer_id', 'text', (c) => c.primaryKey())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('vcpu', 'integer', (c) => c.notNull())
        .addColumn('memory_mb', 'integer', (c) => c.notNull())
        .addColumn('disk_gb', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('allocations_host').on('allocations').column('host').execute();
    },
  },
  '0003_host_usage': {
    async up(db: Kysely<unknown>): Promise<void> {
      // What each host's allocations add up to, kept by claim and release in their transactions,
      // so scheduling and claiming read one row per host instead of every allocation.
      await db.schema
        .createTable('host_usage')
        .addColumn('host', 'text', (c) => c.primaryKey())
        .addColumn('vcpu', 'integer', (c) => c.notNull())
        .addColumn('memory_mb', 'integer', (c) => c.notNull())
        .addColumn('disk_gb', 'integer', (c) => c.notNull())
        .execute();
      await sql`insert into host_usage (host, vcpu, memory_mb, disk_gb)
        select host, sum(vcpu), sum(memory_mb), sum(disk_gb) from allocations group by host`.execute(
        db,
      );
    },
  },
  '0004_login_failures': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Failed password logins per account, for Keystone-style lockout; kept in the database so a
      // restart does not unlock an account.
      await db.schema
        .createTable('login_failures')
        .addColumn('subject', 'text', (c) => c.primaryKey())
        .addColumn('count', 'integer', (c) => c.notNull())
        .addColumn('last_failure_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('login_failures_last')
        .on('login_failures')
        .column('last_failure_at')
        .execute();
    },
  },
  '0005_server_groups': {
    async up(db: Kysely<unknown>): Promise<void> {
      // A group is a document like a server; its members are rows, so joining is one insert and
      // a deleted server leaves every group with one delete.
      await db.schema
        .createTable('server_groups')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('server_group_members')
        .addColumn('group_id', 'text', (c) =>
          c.notNull().references('server_groups.id').onDelete('cascade'),
        )
        .addColumn('server_id', 'text', (c) => c.notNull())
        .addColumn('position', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('server_group_members_pk', ['group_id', 'server_id'])
        .execute();
      await db.schema
        .createIndex('server_group_members_server')
        .on('server_group_members')
        .column('server_id')
        .execute();
    },
  },
  '0006_server_lock_tags': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Nova's lock and tags live beside the server's document, so an action saving the document
      // cannot undo a lock or a tag change made while it ran.
      await db.schema.alterTable('servers').addColumn('locked_by', 'text').execute();
      await db.schema.alterTable('servers').addColumn('locked_reason', 'text').execute();
      await db.schema
        .alterTable('servers')
        .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
    },
  },
  '0007_keypairs': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Nova's key pairs: unique per user and name; the integer id is Nova's `id`.
      await db.schema
        .createTable('keypairs')
        .$call((table) => withIdColumn(db, table))
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('keypairs_user_name', ['user_id', 'name'])
        .execute();
    },
  },
  '0008_image_members': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Glance's image members (the projects an image is shared with), gone with their image.
      await db.schema
        .createTable('image_members')
        .addColumn('image_id', 'text', (c) =>
          c.notNull().references('images.id').onDelete('cascade'),
        )
        .addColumn('member_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('image_members_pk', ['image_id', 'member_id'])
        .execute();
      await db.schema
        .createIndex('image_members_member')
        .on('image_members')
        .column('member_id')
        .execute();
      // The metadef namespaces administrators create, each a JSON document with its properties,
      // objects, tags and resource-type associations.
      await db.schema
        .createTable('metadef_namespaces')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('doc', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0009_identity': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Keystone administration: projects and users gain Keystone's optional attributes, roles
      // become records (the built-in ones keep their names as ids, so existing assignments stay
      // valid), tokens say how they were obtained, and application credentials are kept hashed.
      await db.schema.alterTable('projects').addColumn('parent_id', 'text').execute();
      await db.schema
        .alterTable('projects')
        .addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}'))
        .execute();
      await db.schema.alterTable('users').addColumn('default_project_id', 'text').execute();
      await db.schema
        .alterTable('users')
        .addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}'))
        .execute();
      await db.schema
        .createTable('roles')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('description', 'text', (c) => c.notNull())
        .execute();
      for (const name of ROLES) {
        await sql`insert into roles (id, name, description) values (${name}, ${name}, '')`.execute(
          db,
        );
      }
      await db.schema.alterTable('tokens').addColumn('methods', 'text').execute();
      await db.schema.alterTable('tokens').addColumn('app_cred_id', 'text').execute();
      await db.schema.createIndex('tokens_user').on('tokens').column('user_id').execute();
      await db.schema
        .createTable('application_credentials')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('project_id', 'text', (c) =>
          c.notNull().references('projects.id').onDelete('cascade'),
        )
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text')
        .addColumn('unrestricted', 'integer', (c) => c.notNull())
        .addColumn('role_ids', 'text', (c) => c.notNull())
        .addUniqueConstraint('application_credentials_user_name', ['user_id', 'name'])
        .execute();
    },
  },
  '0012_quotas': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Nova's quota classes, project quotas and per-user quotas: one limit per row.
      await db.schema
        .createTable('quota_limits')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('resource', 'text', (c) => c.notNull())
        .addColumn('hard_limit', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('quota_limits_pk', ['kind', 'owner', 'user_id', 'resource'])
        .execute();
    },
  },
  '0013_instance_actions': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Nova's instance actions outlive their server: no foreign key to servers.
      await db.schema
        .createTable('instance_actions')
        .addColumn('server_id', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text', (c) => c.notNull())
        .addColumn('start_time', 'text', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('instance_actions_pk', ['server_id', 'request_id'])
        .execute();
    },
  },
  '0016_migrations': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Like instance actions, migrations outlive their server: no foreign key to servers.
      await db.schema
        .createTable('migrations')
        .$call((table) => withIdColumn(db, table))
        .addColumn('server_id', 'text', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0017_aggregates': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Nova's host aggregates: the integer id is Nova's `id`; names are unique.
      await db.schema
        .createTable('aggregates')
        .$call((table) => withIdColumn(db, table))
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('doc', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0018_heartbeats': {
    async up(db: Kysely<unknown>): Promise<void> {
      // When each compute service last reported; null until it does.
      await db.schema.alterTable('compute_hosts').addColumn('heartbeat_at', 'text').execute();
    },
  },
  '0019_host_changes': {
    async up(db: Kysely<unknown>): Promise<void> {
      // The host change sequence, so a scheduler refreshes its host index by what changed. Its
      // point is one row that every such write moves on last in its transaction: the row lock
      // orders those transactions, so their points commit in order and a reader that sees a
      // point sees every change up to it (a database sequence could commit out of order).
      const { bigInteger } = columnTypes(db);
      await db.schema
        .createTable('host_change_seq')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('seq', bigInteger, (c) => c.notNull())
        .addColumn('aggregates_seq', bigInteger, (c) => c.notNull())
        .execute();
      await sql`insert into host_change_seq (id, seq, aggregates_seq) values (1, 0, 0)`.execute(db);
      await db.schema
        .createTable('host_changes')
        .addColumn('host', 'text', (c) => c.primaryKey())
        .addColumn('seq', bigInteger, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('host_changes_seq').on('host_changes').column('seq').execute();
      // Each decision asks which hosts have gone silent: the few, not every heartbeat.
      await db.schema
        .createIndex('compute_hosts_heartbeat_at')
        .on('compute_hosts')
        .column('heartbeat_at')
        .execute();
    },
  },
};

/** Distinct SQL texts kept prepared; Kysely's queries use placeholders, so they repeat. */
const STATEMENT_CACHE_SIZE = 256;

/** What a ROLLBACK runs as when SQLite has already ended the transaction itself (SQLITE_FULL). */
const NOTHING_TO_ROLL_BACK = {
  reader: false,
  all: () => [],
  run: () => ({ changes: 0, lastInsertRowid: 0 }),
  iterate: () => [][Symbol.iterator](),
} as const;

/**
 * The database as Kysely sees it, with prepared statements reused: Kysely's SQLite driver prepares
 * every query anew, and preparing was the largest SQLite cost of a boot in the profile.
 */
function cachingStatements(database: Database.Database): SqliteDatabase {
  const statements = new Map<string, Database.Statement>();
  return {
    close: () => database.close(),
    prepare: (text: string) => {
      // SQLite ends a transaction itself on SQLITE_FULL or an I/O error; Kysely's ROLLBACK after
      // that would fail with "no transaction is active" and hide the disk's error behind it.
      if (text === 'rollback' && !database.inTransaction) return NOTHING_TO_ROLL_BACK;
      let statement = statements.get(text);
      if (statement === undefined) {
        // Kysely's BEGIN is deferred: a transaction that reads and then writes fails at once
        // (SQLITE_BUSY, no waiting) when another process wrote in between. IMMEDIATE takes the
        // write lock first, waiting for it up to busy_timeout. In one process Kysely runs one
        // transaction at a time anyway.
        statement = database.prepare(text === 'begin' ? 'begin immediate' : text);
        if (statements.size >= STATEMENT_CACHE_SIZE) {
          const oldest = statements.keys().next();
          if (oldest.done !== true) statements.delete(oldest.value);
        }
        statements.set(text, statement);
      }
      return statement;
    },
  };
}

/** Opens (creating if needed) the database file and applies pending migrations. */
export async function openSqliteStore(file: string): Promise<SqliteStore> {
  const database = openDatabaseFile(file);
  // With WAL, NORMAL syncs at checkpoints rather than at every commit: a crash of vpmu loses
  // nothing, a power loss can lose the last commits (never corrupts), and reconcile() at start
  // squares the records with libvirt. FULL spent most of a boot's database time in fsync.
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  const db = new Kysely<Tables>({
    dialect: new SqliteDialect({ database: cachingStatements(database) }),
  });
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => MIGRATIONS },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    await db.destroy();
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`Cannot migrate the database ${file}: migration ${failed} failed`, {
      cause: error,
    });
  }
  return new SqliteStore(db, 'sqlite');
}

/**
 * Opens (or creates, mode 0600: it holds password hashes; SQLite gives -wal and -shm the same
 * mode) the database file in WAL mode. An empty file is refused rather than silently becoming a
 * new, empty cloud; a file that is not a database is refused with SQLite's reason.
 */
function openDatabaseFile(file: string): Database.Database {
  const size = fileSize(file);
  if (size === 0) {
    throw new Error(
      `Cannot open the database ${file}: the file is empty (0 bytes), not a vpmu database. ` +
        'Restore it from a backup, or remove it to start a new, empty cloud',
    );
  }
  if (size === undefined) closeSync(openSync(file, 'wx', 0o600));
  let database: Database.Database | undefined;
  try {
    database = new Database(file);
    database.pragma('journal_mode = WAL');
    return database;
  } catch (error) {
    database?.close();
    const code = (error as { code?: unknown }).code;
    // Only a file that is not a database calls for a backup; a full, read-only or unreachable
    // disk keeps its code, so the caller names that instead.
    if (code !== 'SQLITE_NOTADB' && code !== 'SQLITE_CORRUPT') throw error;
    throw new Error(
      `Cannot open the database ${file}: ${error instanceof Error ? error.message : String(error)}` +
        `${typeof code === 'string' ? ` (${code})` : ''}. Restore it from a backup, or move it away to start a new, empty cloud`,
      { cause: error },
    );
  }
}

function fileSize(file: string): number | undefined {
  try {
    return statSync(file).size;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** How a store takes its named locks (Store.withLock). */
export type StoreLock = <T>(
  name: string,
  work: () => Promise<T>,
  ifHeld: 'wait' | 'skip',
) => Promise<LockOutcome<T>>;

/**
 * The Store over Kysely, on SQLite (get one from openSqliteStore()) or PostgreSQL
 * (openPostgresStore()): the same queries on both, `dialect` picks the few that differ.
 */
export class SqliteStore implements Store {
  readonly #db: Kysely<Tables>;
  readonly #dialect: StoreDialect;
  readonly #lock: StoreLock;
  readonly #onClose: () => Promise<void>;

  /**
   * `lock` defaults to locks of this process (SQLite: one process serves a file); `onClose`
   * releases what the dialect opened beside the database (PostgreSQL's lock connections).
   */
  constructor(
    db: Kysely<Tables>,
    dialect: StoreDialect,
    extras: { readonly lock?: StoreLock; readonly onClose?: () => Promise<void> } = {},
  ) {
    this.#db = db;
    this.#dialect = dialect;
    const locks = new ProcessLocks();
    this.#lock = extras.lock ?? ((name, work, ifHeld) => locks.withLock(name, work, ifHeld));
    this.#onClose = extras.onClose ?? (async () => undefined);
  }

  async withLock<T>(
    name: string,
    work: () => Promise<T>,
    ifHeld: 'wait' | 'skip' = 'wait',
  ): Promise<LockOutcome<T>> {
    return this.#lock(name, work, ifHeld);
  }

  get sharedWithOtherProcesses(): boolean {
    return this.#dialect === 'postgres';
  }

  async createProject(project: ProjectRecord): Promise<void> {
    const onClash = (): Error => identityNameExists('project', project.name);
    await this.#transaction(onClash, async (trx) => {
      const clash = await trx
        .selectFrom('projects')
        .select('id')
        .where((eb) =>
          eb.or([
            eb('id', '=', project.id),
            eb.and([eb('name', '=', project.name), eb('domain_id', '=', project.domainId)]),
          ]),
        )
        .executeTakeFirst();
      if (clash !== undefined) throw identityNameExists('project', project.name);
      await trx.insertInto('projects').values(projectRow(project)).execute();
    });
  }

  async updateProject(project: ProjectRecord): Promise<void> {
    const onClash = (): Error => identityNameExists('project', project.name);
    await this.#transaction(onClash, async (trx) => {
      const clash = await trx
        .selectFrom('projects')
        .select('id')
        .where('name', '=', project.name)
        .where('domain_id', '=', project.domainId)
        .where('id', '!=', project.id)
        .executeTakeFirst();
      if (clash !== undefined) throw identityNameExists('project', project.name);
      await trx
        .updateTable('projects')
        .set(projectRow(project))
        .where('id', '=', project.id)
        .execute();
    });
  }

  async deleteProject(id: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('tokens').where('project_id', '=', id).execute();
      // Assignments and application credentials go with it (ON DELETE CASCADE).
      const result = await trx.deleteFrom('projects').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  async listUsers(): Promise<UserRecord[]> {
    const rows = await this.#db.selectFrom('users').selectAll().orderBy('name').execute();
    return rows.map(toUser);
  }

  async updateUser(user: UserRecord): Promise<void> {
    const onClash = (): Error => identityNameExists('user', user.name);
    await this.#transaction(onClash, async (trx) => {
      const clash = await trx
        .selectFrom('users')
        .select('id')
        .where('name', '=', user.name)
        .where('domain_id', '=', user.domainId)
        .where('id', '!=', user.id)
        .executeTakeFirst();
      if (clash !== undefined) throw identityNameExists('user', user.name);
      await trx.updateTable('users').set(userRow(user)).where('id', '=', user.id).execute();
    });
  }

  async deleteUser(id: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('tokens').where('user_id', '=', id).execute();
      const result = await trx.deleteFrom('users').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  async createRole(role: RoleRecord): Promise<void> {
    const onClash = (): Error => identityNameExists('role', role.name, 'at domain ID <null>');
    await this.#transaction(onClash, async (trx) => {
      const clash = await trx
        .selectFrom('roles')
        .select('id')
        .where((eb) => eb.or([eb('id', '=', role.id), eb('name', '=', role.name)]))
        .executeTakeFirst();
      if (clash !== undefined) throw identityNameExists('role', role.name, 'at domain ID <null>');
      await trx
        .insertInto('roles')
        .values({ ...role })
        .execute();
    });
  }

  async getRole(id: string): Promise<RoleRecord | undefined> {
    return this.#db.selectFrom('roles').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async findRole(name: string): Promise<RoleRecord | undefined> {
    return this.#db.selectFrom('roles').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async listRoleRecords(): Promise<RoleRecord[]> {
    return this.#db.selectFrom('roles').selectAll().orderBy('name').execute();
  }

  async updateRole(role: RoleRecord): Promise<void> {
    const onClash = (): Error => identityNameExists('role', role.name, 'at domain ID <null>');
    await this.#transaction(onClash, async (trx) => {
      const clash = await trx
        .selectFrom('roles')
        .select('id')
        .where('name', '=', role.name)
        .where('id', '!=', role.id)
        .executeTakeFirst();
      if (clash !== undefined) throw identityNameExists('role', role.name, 'at domain ID <null>');
      await trx
        .updateTable('roles')
        .set({ name: role.name, description: role.description })
        .where('id', '=', role.id)
        .execute();
    });
  }

  async deleteRole(id: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('role_assignments').where('role', '=', id).execute();
      const result = await trx.deleteFrom('roles').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  async unassignRole(assignment: RoleAssignment): Promise<boolean> {
    const result = await this.#db
      .deleteFrom('role_assignments')
      .where('user_id', '=', assignment.userId)
      .where('project_id', '=', assignment.projectId)
      .where('role', '=', assignment.role)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async listAssignments(filter: AssignmentFilter): Promise<RoleAssignment[]> {
    let query = this.#db.selectFrom('role_assignments').selectAll();
    if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
    if (filter.projectId !== undefined) query = query.where('project_id', '=', filter.projectId);
    if (filter.roleId !== undefined) query = query.where('role', '=', filter.roleId);
    const rows = await query.orderBy('user_id').orderBy('project_id').orderBy('role').execute();
    return rows.map((r) => ({ userId: r.user_id, projectId: r.project_id, role: r.role }));
  }

  async deleteTokensOf(filter: { userId?: string; projectId?: string }): Promise<number> {
    if (filter.userId === undefined && filter.projectId === undefined) return 0;
    let query = this.#db.deleteFrom('tokens');
    if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
    if (filter.projectId !== undefined) query = query.where('project_id', '=', filter.projectId);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async createApplicationCredential(credential: ApplicationCredentialRecord): Promise<void> {
    const onClash = (): Error =>
      identityNameExists(
        'application_credential',
        credential.name,
        `for user ${credential.userId}`,
      );
    await this.#transaction(onClash, async (trx) => {
      const clash = await trx
        .selectFrom('application_credentials')
        .select('id')
        .where((eb) =>
          eb.or([
            eb('id', '=', credential.id),
            eb.and([eb('user_id', '=', credential.userId), eb('name', '=', credential.name)]),
          ]),
        )
        .executeTakeFirst();
      if (clash !== undefined) {
        throw identityNameExists(
          'application_credential',
          credential.name,
          `for user ${credential.userId}`,
        );
      }
      await trx
        .insertInto('application_credentials')
        .values({
          id: credential.id,
          name: credential.name,
          user_id: credential.userId,
          project_id: credential.projectId,
          description: credential.description,
          secret_hash: credential.secretHash,
          expires_at: credential.expiresAt,
          unrestricted: credential.unrestricted ? 1 : 0,
          role_ids: JSON.stringify(credential.roleIds),
        })
        .execute();
    });
  }

  async getApplicationCredential(id: string): Promise<ApplicationCredentialRecord | undefined> {
    const row = await this.#db
      .selectFrom('application_credentials')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toApplicationCredential(row);
  }

  async listApplicationCredentials(userId: string): Promise<ApplicationCredentialRecord[]> {
    const rows = await this.#db
      .selectFrom('application_credentials')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('name')
      .execute();
    return rows.map(toApplicationCredential);
  }

  async deleteApplicationCredential(id: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('tokens').where('app_cred_id', '=', id).execute();
      const result = await trx
        .deleteFrom('application_credentials')
        .where('id', '=', id)
        .executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  async getProject(id: string): Promise<ProjectRecord | undefined> {
    const row = await this.#db
      .selectFrom('projects')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toProject(row);
  }

  async findProject(name: string, domainId: string): Promise<ProjectRecord | undefined> {
    const row = await this.#db
      .selectFrom('projects')
      .selectAll()
      .where('name', '=', name)
      .where('domain_id', '=', domainId)
      .executeTakeFirst();
    return row && toProject(row);
  }

  async listProjects(): Promise<ProjectRecord[]> {
    const rows = await this.#db.selectFrom('projects').selectAll().orderBy('name').execute();
    return rows.map(toProject);
  }

  async createUser(user: UserRecord): Promise<void> {
    const onClash = (): Error => identityNameExists('user', user.name);
    await this.#transaction(onClash, async (trx) => {
      const clash = await trx
        .selectFrom('users')
        .select('id')
        .where((eb) =>
          eb.or([
            eb('id', '=', user.id),
            eb.and([eb('name', '=', user.name), eb('domain_id', '=', user.domainId)]),
          ]),
        )
        .executeTakeFirst();
      if (clash !== undefined) throw identityNameExists('user', user.name);
      await trx.insertInto('users').values(userRow(user)).execute();
    });
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    const row = await this.#db
      .selectFrom('users')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toUser(row);
  }

  async findUser(name: string, domainId: string): Promise<UserRecord | undefined> {
    const row = await this.#db
      .selectFrom('users')
      .selectAll()
      .where('name', '=', name)
      .where('domain_id', '=', domainId)
      .executeTakeFirst();
    return row && toUser(row);
  }

  async setPassword(userId: string, passwordHash: string): Promise<void> {
    const result = await this.#db
      .updateTable('users')
      .set({ password_hash: passwordHash })
      .where('id', '=', userId)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) {
      throw new Error(`Cannot set the password of user ${userId}: no such user`);
    }
  }

  async assignRole(assignment: RoleAssignment): Promise<void> {
    await this.#db
      .insertInto('role_assignments')
      .values({
        user_id: assignment.userId,
        project_id: assignment.projectId,
        role: assignment.role,
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  async listRoles(userId: string, projectId: string): Promise<Role[]> {
    const rows = await this.#db
      .selectFrom('role_assignments')
      .innerJoin('roles', 'roles.id', 'role_assignments.role')
      .select('roles.name')
      .where('user_id', '=', userId)
      .where('project_id', '=', projectId)
      .execute();
    return orderRoleNames(rows.map((r) => r.name));
  }

  async putToken(token: TokenRecord): Promise<void> {
    await this.#db
      .insertInto('tokens')
      .values({
        id: token.id,
        user_id: token.userId,
        project_id: token.projectId,
        roles: JSON.stringify(token.roles),
        issued_at: token.issuedAt,
        expires_at: token.expiresAt,
        audit_id: token.auditId,
        methods: token.methods === undefined ? null : JSON.stringify(token.methods),
        app_cred_id: token.applicationCredentialId ?? null,
      })
      .execute();
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const row = await this.#db
      .selectFrom('tokens')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toTokenRecord(row);
  }

  async getTokenState(id: string): Promise<TokenState | undefined> {
    return readTokenState(this.#db, id);
  }

  async deleteToken(id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('tokens').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async deleteExpiredTokens(now: string): Promise<number> {
    const result = await this.#db
      .deleteFrom('tokens')
      .where('expires_at', '<=', now)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async getLoginFailures(subject: string): Promise<LoginFailures | undefined> {
    const row = await this.#db
      .selectFrom('login_failures')
      .selectAll()
      .where('subject', '=', subject)
      .executeTakeFirst();
    return row && { subject: row.subject, count: row.count, lastFailureAt: row.last_failure_at };
  }

  async recordLoginFailure(
    subject: string,
    at: string,
    forgetUpTo: string,
  ): Promise<LoginFailures> {
    return this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('login_failures').where('last_failure_at', '<=', forgetUpTo).execute();
      const row = await trx
        .insertInto('login_failures')
        .values({ subject, count: 1, last_failure_at: at })
        .onConflict((oc) =>
          oc
            .column('subject')
            .doUpdateSet({ count: sql`login_failures.count + 1`, last_failure_at: at }),
        )
        .returningAll()
        .executeTakeFirstOrThrow();
      return { subject: row.subject, count: row.count, lastFailureAt: row.last_failure_at };
    });
  }

  async clearLoginFailures(subject: string): Promise<void> {
    await this.#db.deleteFrom('login_failures').where('subject', '=', subject).execute();
  }

  async createFlavor(
    flavor: FlavorRecord,
    accessProjectIds: readonly string[] = [],
  ): Promise<void> {
    const onClash = (error: unknown): Error =>
      /pkey|flavors\.id/.test(uniqueTarget(error))
        ? flavorIdExists(flavor.id)
        : flavorNameExists(flavor.name);
    await this.#transaction(onClash, async (trx) => {
      const clash = await trx
        .selectFrom('flavors')
        .select(['id', 'name'])
        .where((eb) => eb.or([eb('id', '=', flavor.id), eb('name', '=', flavor.name)]))
        .execute();
      if (clash.some((row) => row.id === flavor.id)) throw flavorIdExists(flavor.id);
      if (clash.length > 0) throw flavorNameExists(flavor.name);
      await trx
        .insertInto('flavors')
        .values({
          id: flavor.id,
          name: flavor.name,
          vcpus: flavor.vcpus,
          memory_mib: flavor.memoryMiB,
          disk_gib: flavor.diskGiB,
          swap_mib: flavor.swapMiB,
          ephemeral_gib: flavor.ephemeralGiB,
          rxtx_factor: flavor.rxtxFactor,
          is_public: flavor.isPublic ? 1 : 0,
          description: flavor.description,
          created_at: flavor.createdAt,
        })
        .execute();
      await insertSpecs(trx, flavor.id, flavor.extraSpecs);
      const access = [...new Set(accessProjectIds)].map((project_id) => ({
        flavor_id: flavor.id,
        project_id,
      }));
      if (access.length > 0) await trx.insertInto('flavor_access').values(access).execute();
    });
  }

  async getFlavor(id: string): Promise<FlavorRecord | undefined> {
    return (await this.#readFlavors(this.#db, id))[0];
  }

  async listFlavors(): Promise<FlavorRecord[]> {
    return this.#readFlavors(this.#db);
  }

  async queryFlavors(query: FlavorQuery): Promise<FlavorRecord[] | typeof MARKER_NOT_FOUND> {
    // The order is numbered over every flavor, so a page starts after the marker's place in it
    // even when the marker itself does not pass the filters (oslo.db's keyset paging does the same).
    const order = sql.join(
      flavorOrder(query.sort).map(
        ({ key, dir }) =>
          sql`${sql.ref(FLAVOR_COLUMNS[key])} ${sql.raw(dir === 'asc' ? 'ASC NULLS FIRST' : 'DESC NULLS LAST')}`,
      ),
    );
    const conditions = [sql`1 = 1`];
    if (query.minMemoryMiB !== undefined)
      conditions.push(sql`o.memory_mib >= ${query.minMemoryMiB}`);
    if (query.minDiskGiB !== undefined) conditions.push(sql`o.disk_gib >= ${query.minDiskGiB}`);
    if (query.isPublic === false) conditions.push(sql`o.is_public = 0`);
    if (query.isPublic === true) {
      conditions.push(
        query.accessProjectId === undefined
          ? sql`o.is_public = 1`
          : sql`(o.is_public = 1 OR EXISTS (SELECT 1 FROM flavor_access a WHERE a.flavor_id = o.id AND a.project_id = ${query.accessProjectId}))`,
      );
    }
    if (query.marker !== undefined) {
      const marker = await this.#db
        .selectFrom('flavors')
        .select('id')
        .where('id', '=', query.marker)
        .executeTakeFirst();
      if (marker === undefined) return MARKER_NOT_FOUND;
      conditions.push(sql`o.rn > (SELECT rn FROM o WHERE o.id = ${query.marker})`);
    }
    const limit = query.limit === undefined ? sql`` : sql`LIMIT ${query.limit}`;
    const { rows } = await sql<{ id: string }>`
      WITH o AS (SELECT id, memory_mib, disk_gib, is_public, ROW_NUMBER() OVER (ORDER BY ${order}) AS rn FROM flavors)
      SELECT o.id FROM o WHERE ${sql.join(conditions, sql` AND `)} ORDER BY o.rn ${limit}`.execute(
      this.#db,
    );
    if (rows.length === 0) return [];
    const byId = new Map<string, FlavorRecord>();
    for (const batch of batches(rows.map((r) => r.id))) {
      for (const flavor of await this.#readFlavors(this.#db, batch)) byId.set(flavor.id, flavor);
    }
    return rows.flatMap((r) => byId.get(r.id) ?? []);
  }

  async deleteFlavor(id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('flavors').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async setExtraSpecs(
    flavorId: string,
    specs: Readonly<Record<string, string>>,
  ): Promise<FlavorRecord> {
    return this.#db.transaction().execute(async (trx) => {
      const exists = await trx
        .selectFrom('flavors')
        .select('id')
        .where('id', '=', flavorId)
        .executeTakeFirst();
      if (exists === undefined) throw flavorNotFound(flavorId);
      await insertSpecs(trx, flavorId, specs);
      const [flavor] = await this.#readFlavors(trx, flavorId);
      if (flavor === undefined) throw flavorNotFound(flavorId);
      return flavor;
    });
  }

  async deleteExtraSpec(flavorId: string, key: string): Promise<boolean> {
    const result = await this.#db
      .deleteFrom('flavor_extra_specs')
      .where('flavor_id', '=', flavorId)
      .where('key', '=', key)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async addFlavorAccess(flavorId: string, projectId: string): Promise<void> {
    const onClash = (): Error => flavorAccessExists(flavorId, projectId);
    await this.#transaction(onClash, async (trx) => {
      const exists = await trx
        .selectFrom('flavors')
        .select('id')
        .where('id', '=', flavorId)
        .executeTakeFirst();
      if (exists === undefined) throw flavorNotFound(flavorId);
      const result = await trx
        .insertInto('flavor_access')
        .values({ flavor_id: flavorId, project_id: projectId })
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      if (result.numInsertedOrUpdatedRows === 0n) throw flavorAccessExists(flavorId, projectId);
    });
  }

  async listFlavorAccess(flavorId: string): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('flavor_access')
      .select('project_id')
      .where('flavor_id', '=', flavorId)
      .orderBy('project_id')
      .execute();
    return rows.map((r) => r.project_id);
  }

  async createImage(image: ImageRecord): Promise<void> {
    const onClash = (): Error => imageExists(image.id);
    await this.#transaction(onClash, async (trx) => {
      const exists = await trx
        .selectFrom('images')
        .select('id')
        .where('id', '=', image.id)
        .executeTakeFirst();
      if (exists !== undefined) throw imageExists(image.id);
      await trx.insertInto('images').values(toImageRow(image)).execute();
      await insertProperties(trx, image.id, image.properties);
    });
  }

  async getImage(id: string): Promise<ImageRecord | undefined> {
    // One image with its properties, in one statement (a create reads it on every request).
    const rows = await this.#db
      .selectFrom('images')
      .leftJoin('image_properties', 'image_properties.image_id', 'images.id')
      .selectAll('images')
      .select(['image_properties.key as prop_key', 'image_properties.value as prop_value'])
      .where('images.id', '=', id)
      .orderBy('image_properties.key')
      .execute();
    const [row] = rows;
    if (row === undefined) return undefined;
    return toImageRecord(
      row,
      joinedPairs(rows, (r) => [r.prop_key, r.prop_value]),
    );
  }

  async listImages(filter: ImageFilter = {}): Promise<ImageRecord[]> {
    return this.#readImages(filter);
  }

  async saveImage(image: ImageRecord): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      const { id, ...row } = toImageRow(image);
      const result = await trx
        .updateTable('images')
        .set(row)
        .where('id', '=', id)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) throw imageNotFound(id);
      await trx.deleteFrom('image_properties').where('image_id', '=', id).execute();
      await insertProperties(trx, id, image.properties);
    });
  }

  async deleteImage(id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('images').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async addImageMember(member: ImageMemberRecord, maxPerImage: number): Promise<void> {
    const onClash = (): Error => imageMemberExists(member.imageId, member.memberId);
    await this.#transaction(onClash, async (trx) => {
      const image = await trx
        .selectFrom('images')
        .select('id')
        .where('id', '=', member.imageId)
        .executeTakeFirst();
      if (image === undefined) throw imageNotFound(member.imageId);
      const taken = await trx
        .selectFrom('image_members')
        .select('member_id')
        .where('image_id', '=', member.imageId)
        .where('member_id', '=', member.memberId)
        .executeTakeFirst();
      if (taken !== undefined) throw imageMemberExists(member.imageId, member.memberId);
      const held = await trx
        .selectFrom('image_members')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('image_id', '=', member.imageId)
        .executeTakeFirstOrThrow();
      if (held.n >= maxPerImage) {
        throw imageMemberLimitExceeded(member.imageId, held.n + 1, maxPerImage);
      }
      await trx.insertInto('image_members').values(toMemberRow(member)).execute();
    });
  }

  async getImageMember(imageId: string, memberId: string): Promise<ImageMemberRecord | undefined> {
    const row = await this.#db
      .selectFrom('image_members')
      .selectAll()
      .where('image_id', '=', imageId)
      .where('member_id', '=', memberId)
      .executeTakeFirst();
    return row === undefined ? undefined : fromMemberRow(row);
  }

  async listImageMembers(imageId: string): Promise<ImageMemberRecord[]> {
    const rows = await this.#db
      .selectFrom('image_members')
      .selectAll()
      .where('image_id', '=', imageId)
      .orderBy('created_at')
      .orderBy('member_id')
      .execute();
    return rows.map(fromMemberRow);
  }

  async listImageMemberships(memberId: string): Promise<ImageMemberRecord[]> {
    const rows = await this.#db
      .selectFrom('image_members')
      .selectAll()
      .where('member_id', '=', memberId)
      .execute();
    return rows.map(fromMemberRow);
  }

  async setImageMemberStatus(
    imageId: string,
    memberId: string,
    status: MemberStatus,
    at: string,
  ): Promise<ImageMemberRecord | undefined> {
    const row = await this.#db
      .updateTable('image_members')
      .set({ status, updated_at: at })
      .where('image_id', '=', imageId)
      .where('member_id', '=', memberId)
      .returningAll()
      .executeTakeFirst();
    return row === undefined ? undefined : fromMemberRow(row);
  }

  async deleteImageMember(imageId: string, memberId: string): Promise<boolean> {
    const result = await this.#db
      .deleteFrom('image_members')
      .where('image_id', '=', imageId)
      .where('member_id', '=', memberId)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async createMetadefNamespace(namespace: MetadefNamespaceRecord): Promise<void> {
    const result = await this.#db
      .insertInto('metadef_namespaces')
      .values({ name: namespace.namespace, doc: JSON.stringify(namespace) })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if (result.numInsertedOrUpdatedRows === 0n) throw metadefNamespaceExists(namespace.namespace);
  }

  async getMetadefNamespace(name: string): Promise<MetadefNamespaceRecord | undefined> {
    const row = await this.#db
      .selectFrom('metadef_namespaces')
      .select('doc')
      .where('name', '=', name)
      .executeTakeFirst();
    return row === undefined ? undefined : (JSON.parse(row.doc) as MetadefNamespaceRecord);
  }

  async listMetadefNamespaces(): Promise<MetadefNamespaceRecord[]> {
    const rows = await this.#db
      .selectFrom('metadef_namespaces')
      .select('doc')
      .orderBy('name')
      .execute();
    return rows.map((row) => JSON.parse(row.doc) as MetadefNamespaceRecord);
  }

  async saveMetadefNamespace(name: string, namespace: MetadefNamespaceRecord): Promise<void> {
    const onClash = (): Error => metadefNamespaceExists(namespace.namespace);
    await this.#transaction(onClash, async (trx) => {
      if (namespace.namespace !== name) {
        const taken = await trx
          .selectFrom('metadef_namespaces')
          .select('name')
          .where('name', '=', namespace.namespace)
          .executeTakeFirst();
        if (taken !== undefined) throw metadefNamespaceExists(namespace.namespace);
      }
      const result = await trx
        .updateTable('metadef_namespaces')
        .set({ name: namespace.namespace, doc: JSON.stringify(namespace) })
        .where('name', '=', name)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) throw metadefNamespaceNotFound(name);
    });
  }

  async deleteMetadefNamespace(name: string): Promise<boolean> {
    const result = await this.#db
      .deleteFrom('metadef_namespaces')
      .where('name', '=', name)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async createServer(server: ServerRecord, action?: InstanceActionRecord): Promise<void> {
    // The primary key refuses a second record with the id: no read first.
    const row = toServerRow(server);
    try {
      if (action === undefined) {
        await this.#db.insertInto('servers').values(row).execute();
      } else if (this.#dialect === 'postgres') {
        // One statement: PostgreSQL runs a data-modifying WITH and the insert after it, or
        // neither when the server's insert fails.
        await putActionQuery(
          this.#db.with('created', (db) => db.insertInto('servers').values(row)),
          action,
        ).execute();
      } else {
        await this.#db.transaction().execute(async (trx) => {
          await trx.insertInto('servers').values(row).execute();
          await putActionQuery(trx, action).execute();
        });
      }
    } catch (error) {
      if (isUniqueViolation(error)) throw serverExists(server.id);
      throw error;
    }
  }

  async getServer(id: string): Promise<ServerRecord | undefined> {
    const row = await this.#db
      .selectFrom('servers')
      .select(SERVER_COLUMNS)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toServer(row);
  }

  async listServers(filter: ServerFilter = {}): Promise<ServerRecord[]> {
    let query = this.#db
      .selectFrom('servers')
      .select(SERVER_COLUMNS)
      .orderBy('created_at')
      .orderBy('id');
    if (filter.projectId !== undefined) query = query.where('project_id', '=', filter.projectId);
    const rows = await query.execute();
    return rows.map(toServer);
  }

  async saveServer(server: ServerRecord, options?: SaveServerOptions): Promise<void> {
    // Only the document: a server's project and creation time never change, and setting the
    // indexed columns made SQLite rewrite their index entry on every save. The lock and tags have
    // their own columns and setters.
    if (await this.#saveServerDoc(server, options)) return;
    if (options !== undefined && (await this.getServer(server.id)) !== undefined) {
      throw serverConflict(server.id);
    }
    throw serverNotFound(server.id);
  }

  /** The save itself, with its action when it has one: true when it landed. */
  async #saveServerDoc(server: ServerRecord, options?: SaveServerOptions): Promise<boolean> {
    const update = (db: Kysely<Tables> | Transaction<Tables>) =>
      db
        .updateTable('servers')
        .set({ doc: serverDoc(server) })
        .where('id', '=', server.id)
        .$if(options !== undefined, (q) =>
          q.where(this.#storedVersionIs(options?.ifVersion ?? null)),
        );
    const action = options?.action;
    if (action === undefined)
      return (await update(this.#db).executeTakeFirst()).numUpdatedRows > 0n;
    if (this.#dialect === 'postgres') {
      // One statement: the action is inserted from the updated row, so only when the save lands;
      // PostgreSQL counts an upsert's update as a row inserted.
      const doc = JSON.stringify(action);
      const result = await this.#db
        .with('saved', () => update(this.#db).returning('id'))
        .insertInto('instance_actions')
        .columns(['server_id', 'request_id', 'start_time', 'doc'])
        .expression((eb) =>
          eb
            .selectFrom('saved')
            .select([
              eb.val(action.serverId).as('server_id'),
              eb.val(action.requestId).as('request_id'),
              eb.val(action.startTime).as('start_time'),
              eb.val(doc).as('doc'),
            ]),
        )
        .onConflict((oc) =>
          oc
            .columns(['server_id', 'request_id'])
            .doUpdateSet({ doc: (eb) => eb.ref('excluded.doc') }),
        )
        .executeTakeFirst();
      return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
    }
    return this.#db.transaction().execute(async (trx) => {
      if ((await update(trx).executeTakeFirst()).numUpdatedRows === 0n) return false;
      await putActionQuery(trx, action).execute();
      return true;
    });
  }

  /** The stored document's `version` is `version` (null: it has none), in each dialect's JSON. */
  #storedVersionIs(version: number | null) {
    const stored =
      this.#dialect === 'postgres'
        ? sql<string | null>`(doc::jsonb ->> 'version')`
        : sql<number | null>`json_extract(doc, '$.version')`;
    if (version === null) return sql<boolean>`${stored} is null`;
    // PostgreSQL's ->> gives text; SQLite's json_extract gives the integer itself.
    return sql<boolean>`${stored} = ${this.#dialect === 'postgres' ? String(version) : version}`;
  }

  async setServerLock(id: string, lock: ServerLock | null): Promise<void> {
    const result = await this.#db
      .updateTable('servers')
      .set({ locked_by: lock?.by ?? null, locked_reason: lock?.reason ?? null })
      .where('id', '=', id)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw serverNotFound(id);
  }

  async updateServerTags(
    id: string,
    edit: (current: readonly string[]) => readonly string[],
  ): Promise<readonly string[]> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('servers')
        .select('tags')
        .where('id', '=', id)
        // SQLite has one writer at a time; PostgreSQL locks the row until the edit is saved.
        .$if(this.#dialect === 'postgres', (q) => q.forUpdate())
        .executeTakeFirst();
      if (row === undefined) throw serverNotFound(id);
      const tags = [...edit(JSON.parse(row.tags) as string[])];
      await trx
        .updateTable('servers')
        .set({ tags: JSON.stringify(tags) })
        .where('id', '=', id)
        .execute();
      return tags;
    });
  }

  async deleteServer(id: string, action?: InstanceActionRecord): Promise<boolean> {
    const remove = (db: Kysely<Tables> | Transaction<Tables>) =>
      db.deleteFrom('servers').where('id', '=', id);
    if (action === undefined)
      return (await remove(this.#db).executeTakeFirst()).numDeletedRows > 0n;
    if (this.#dialect === 'postgres') {
      // One statement: the delete in a data-modifying WITH, counted by the select after the upsert.
      const { rows } = await sql<{ deleted: number }>`with gone as (${remove(this.#db).returning(
        'id',
      )}), recorded as (${putActionQuery(this.#db, action)}) select count(*)::int as deleted from gone`.execute(
        this.#db,
      );
      return (rows[0]?.deleted ?? 0) > 0;
    }
    return this.#db.transaction().execute(async (trx) => {
      const deleted = (await remove(trx).executeTakeFirst()).numDeletedRows > 0n;
      await putActionQuery(trx, action).execute();
      return deleted;
    });
  }

  async createServerGroup(group: ServerGroupRecord): Promise<void> {
    const onClash = (): Error => serverGroupExists(group.id);
    await this.#transaction(onClash, async (trx) => {
      const exists = await trx
        .selectFrom('server_groups')
        .select('id')
        .where('id', '=', group.id)
        .executeTakeFirst();
      if (exists !== undefined) throw serverGroupExists(group.id);
      await trx.insertInto('server_groups').values(toServerGroupRow(group)).execute();
      if (group.members.length > 0) {
        await trx
          .insertInto('server_group_members')
          .values(
            group.members.map((server_id, position) => ({
              group_id: group.id,
              server_id,
              position,
            })),
          )
          .execute();
      }
    });
  }

  async getServerGroup(id: string): Promise<ServerGroupRecord | undefined> {
    const [group] = await this.#serverGroups(
      this.#db.selectFrom('server_groups').select(['id', 'doc']).where('id', '=', id),
    );
    return group;
  }

  async listServerGroups(projectId?: string): Promise<ServerGroupRecord[]> {
    let query = this.#db
      .selectFrom('server_groups')
      .select(['id', 'doc'])
      .orderBy('created_at')
      .orderBy('id');
    if (projectId !== undefined) query = query.where('project_id', '=', projectId);
    return this.#serverGroups(query);
  }

  /** The groups a query selects, each with its members in the order they joined. */
  async #serverGroups(query: {
    execute(): Promise<{ id: string; doc: string }[]>;
  }): Promise<ServerGroupRecord[]> {
    const rows = await query.execute();
    if (rows.length === 0) return [];
    const members = new Map<string, string[]>(rows.map((r) => [r.id, []]));
    for (const ids of batches(rows.map((r) => r.id))) {
      const found = await this.#db
        .selectFrom('server_group_members')
        .select(['group_id', 'server_id'])
        .where('group_id', 'in', ids)
        .orderBy('position')
        .execute();
      for (const m of found) members.get(m.group_id)?.push(m.server_id);
    }
    return rows.map((r) => ({
      ...(JSON.parse(r.doc) as Omit<ServerGroupRecord, 'members'>),
      members: members.get(r.id) ?? [],
    }));
  }

  async deleteServerGroup(id: string): Promise<boolean> {
    const result = await this.#db
      .deleteFrom('server_groups')
      .where('id', '=', id)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async addServerGroupMember(groupId: string, serverId: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const group = await trx
        .selectFrom('server_groups')
        .select('id')
        .where('id', '=', groupId)
        .executeTakeFirst();
      if (group === undefined) return false;
      const last = await trx
        .selectFrom('server_group_members')
        .select((eb) => eb.fn.max('position').as('position'))
        .where('group_id', '=', groupId)
        .executeTakeFirst();
      await trx
        .insertInto('server_group_members')
        .values({
          group_id: groupId,
          server_id: serverId,
          position: (last?.position ?? -1) + 1,
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
      return true;
    });
  }

  async removeServerGroupMember(serverId: string): Promise<void> {
    await this.#db.deleteFrom('server_group_members').where('server_id', '=', serverId).execute();
  }

  async createKeypair(
    keypair: Omit<KeypairRecord, 'id'>,
    maxPerUser: number,
  ): Promise<KeypairRecord> {
    const onClash = (): Error => keypairExists(keypair.name);
    return this.#transaction(onClash, async (trx) => {
      const taken = await trx
        .selectFrom('keypairs')
        .select('id')
        .where('user_id', '=', keypair.userId)
        .where('name', '=', keypair.name)
        .executeTakeFirst();
      if (taken !== undefined) throw keypairExists(keypair.name);
      const held = await trx
        .selectFrom('keypairs')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('user_id', '=', keypair.userId)
        .executeTakeFirstOrThrow();
      if (held.n >= maxPerUser) throw keypairQuotaExceeded();
      const row = await trx
        .insertInto('keypairs')
        .values({
          user_id: keypair.userId,
          name: keypair.name,
          type: keypair.type,
          public_key: keypair.publicKey,
          fingerprint: keypair.fingerprint,
          created_at: keypair.createdAt,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return { ...keypair, id: row.id };
    });
  }

  async getKeypair(userId: string, name: string): Promise<KeypairRecord | undefined> {
    const row = await this.#db
      .selectFrom('keypairs')
      .selectAll()
      .where('user_id', '=', userId)
      .where('name', '=', name)
      .executeTakeFirst();
    return row === undefined ? undefined : fromKeypairRow(row);
  }

  async listKeypairs(userId: string): Promise<KeypairRecord[]> {
    const rows = await this.#db
      .selectFrom('keypairs')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('name')
      .execute();
    return rows.map(fromKeypairRow);
  }

  async deleteKeypair(userId: string, name: string): Promise<boolean> {
    const result = await this.#db
      .deleteFrom('keypairs')
      .where('user_id', '=', userId)
      .where('name', '=', name)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async getQuotaLimits(scope: QuotaScope): Promise<Record<string, number>> {
    const { kind, owner, userId } = quotaRowKey(scope);
    const rows = await this.#db
      .selectFrom('quota_limits')
      .select(['resource', 'hard_limit'])
      .where('kind', '=', kind)
      .where('owner', '=', owner)
      .where('user_id', '=', userId)
      .execute();
    return Object.fromEntries(rows.map((r) => [r.resource, r.hard_limit]));
  }

  async getQuotaLimitsOf(scopes: readonly QuotaScope[]): Promise<Record<string, number>[]> {
    if (scopes.length === 0) return [];
    const keys = scopes.map(quotaRowKey);
    const rows = await this.#db
      .selectFrom('quota_limits')
      .select(['kind', 'owner', 'user_id', 'resource', 'hard_limit'])
      .where((eb) =>
        eb.or(
          keys.map((key) =>
            eb.and([
              eb('kind', '=', key.kind),
              eb('owner', '=', key.owner),
              eb('user_id', '=', key.userId),
            ]),
          ),
        ),
      )
      .execute();
    return keys.map((key) =>
      Object.fromEntries(
        rows
          .filter((r) => r.kind === key.kind && r.owner === key.owner && r.user_id === key.userId)
          .map((r) => [r.resource, r.hard_limit]),
      ),
    );
  }

  async setQuotaLimits(scope: QuotaScope, limits: Readonly<Record<string, number>>): Promise<void> {
    const { kind, owner, userId } = quotaRowKey(scope);
    const rows = Object.entries(limits).map(([resource, limit]) => ({
      kind,
      owner,
      user_id: userId,
      resource,
      hard_limit: limit,
    }));
    if (rows.length === 0) return;
    await this.#db
      .insertInto('quota_limits')
      .values(rows)
      .onConflict((oc) =>
        oc
          .columns(['kind', 'owner', 'user_id', 'resource'])
          .doUpdateSet((eb) => ({ hard_limit: eb.ref('excluded.hard_limit') })),
      )
      .execute();
  }

  async deleteQuotaLimits(scope: QuotaScope): Promise<void> {
    const { kind, owner, userId } = quotaRowKey(scope);
    let query = this.#db.deleteFrom('quota_limits').where('owner', '=', owner);
    query =
      kind === 'project'
        ? query.where('kind', 'in', ['project', 'user'])
        : query.where('kind', '=', kind).where('user_id', '=', userId);
    await query.execute();
  }

  async putInstanceAction(action: InstanceActionRecord): Promise<void> {
    await putActionQuery(this.#db, action).execute();
  }

  async listInstanceActions(serverId: string): Promise<InstanceActionRecord[]> {
    const rows = await this.#db
      .selectFrom('instance_actions')
      .select('doc')
      .where('server_id', '=', serverId)
      .orderBy('start_time')
      .orderBy('request_id')
      .execute();
    return rows.map((row) => JSON.parse(row.doc) as InstanceActionRecord);
  }

  async createMigration(migration: Omit<MigrationRecord, 'id'>): Promise<MigrationRecord> {
    const row = await this.#db
      .insertInto('migrations')
      .values({ server_id: migration.serverId, doc: JSON.stringify(migration) })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { ...migration, id: row.id };
  }

  async saveMigration(migration: MigrationRecord): Promise<void> {
    const { id, ...doc } = migration;
    await this.#db
      .updateTable('migrations')
      .set({ server_id: migration.serverId, doc: JSON.stringify(doc) })
      .where('id', '=', id)
      .execute();
  }

  async listMigrations(): Promise<MigrationRecord[]> {
    const rows = await this.#db
      .selectFrom('migrations')
      .select(['id', 'doc'])
      .orderBy('id')
      .execute();
    return rows.map((row) => ({
      ...(JSON.parse(row.doc) as Omit<MigrationRecord, 'id'>),
      id: row.id,
    }));
  }

  async putComputeHost(host: ComputeHostRecord): Promise<void> {
    const { heartbeatAt, ...doc } = host;
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .insertInto('compute_hosts')
        .values({ name: host.name, doc: JSON.stringify(doc), heartbeat_at: heartbeatAt ?? null })
        .onConflict((oc) =>
          oc.column('name').doUpdateSet({
            doc: sql`excluded.doc`,
            // A registration that does not report keeps the heartbeat already recorded.
            heartbeat_at: sql`coalesce(excluded.heartbeat_at, compute_hosts.heartbeat_at)`,
          }),
        )
        .execute();
      await markChanged(trx, host.name, this.#dialect);
    });
  }

  async reportHeartbeat(host: string, at: string): Promise<boolean> {
    const beat = async (db: Kysely<Tables> | Transaction<Tables>): Promise<boolean> => {
      const result = await db
        .updateTable('compute_hosts')
        .set({ heartbeat_at: at })
        .where('name', '=', host)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    };
    if (this.#dialect !== 'postgres') return beat(this.#db);
    // A heartbeat lost in a crash is sent again in a few seconds: not waiting for the WAL flush
    // lets many computes report (1.3k/s with it, 9.2k/s without, measured).
    return this.#db.transaction().execute(async (trx) => {
      await sql`set local synchronous_commit to off`.execute(trx);
      return beat(trx);
    });
  }

  async silentHosts(before: string): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('compute_hosts')
      .select('name')
      .where('heartbeat_at', '<', before)
      .execute();
    // Sorted here: ORDER BY name would walk every host by its key instead of the few by the index.
    return rows.map((row) => row.name).sort();
  }

  async getComputeHost(name: string): Promise<ComputeHostRecord | undefined> {
    const row = await this.#db
      .selectFrom('compute_hosts')
      .select(['doc', 'heartbeat_at'])
      .where('name', '=', name)
      .executeTakeFirst();
    return row && toComputeHost(row);
  }

  async listComputeHosts(): Promise<ComputeHostRecord[]> {
    const rows = await this.#db
      .selectFrom('compute_hosts')
      .select(['doc', 'heartbeat_at'])
      .orderBy('name')
      .execute();
    return rows.map(toComputeHost);
  }

  async createAggregate(aggregate: Omit<AggregateRecord, 'id'>): Promise<AggregateRecord> {
    // Two processes may both pass the check: the name's unique index settles it.
    return this.#transaction(
      () => aggregateNameExists(aggregate.name),
      async (trx) => {
        const taken = await trx
          .selectFrom('aggregates')
          .select('id')
          .where('name', '=', aggregate.name)
          .executeTakeFirst();
        if (taken !== undefined) throw aggregateNameExists(aggregate.name);
        const row = await trx
          .insertInto('aggregates')
          .values({ name: aggregate.name, doc: aggregateDoc(aggregate) })
          .returning('id')
          .executeTakeFirstOrThrow();
        await markChanged(trx, AGGREGATES, this.#dialect);
        return { ...aggregate, id: row.id };
      },
    );
  }

  async getAggregate(id: number): Promise<AggregateRecord | undefined> {
    const row = await this.#db
      .selectFrom('aggregates')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : fromAggregateRow(row);
  }

  async listAggregates(): Promise<AggregateRecord[]> {
    const rows = await this.#db.selectFrom('aggregates').selectAll().orderBy('id').execute();
    return rows.map(fromAggregateRow);
  }

  async saveAggregate(aggregate: AggregateRecord): Promise<void> {
    await this.#transaction(
      () => aggregateNameExists(aggregate.name),
      async (trx) => {
        const taken = await trx
          .selectFrom('aggregates')
          .select('id')
          .where('name', '=', aggregate.name)
          .where('id', '!=', aggregate.id)
          .executeTakeFirst();
        if (taken !== undefined) throw aggregateNameExists(aggregate.name);
        const result = await trx
          .updateTable('aggregates')
          .set({ name: aggregate.name, doc: aggregateDoc(aggregate) })
          .where('id', '=', aggregate.id)
          .executeTakeFirst();
        if (result.numUpdatedRows === 0n) throw aggregateNotFound(aggregate.id);
        await markChanged(trx, AGGREGATES, this.#dialect);
      },
    );
  }

  async deleteAggregate(id: number): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const result = await trx.deleteFrom('aggregates').where('id', '=', id).executeTakeFirst();
      if (result.numDeletedRows === 0n) return false;
      await markChanged(trx, AGGREGATES, this.#dialect);
      return true;
    });
  }

  async deleteComputeHost(name: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const result = await trx
        .deleteFrom('compute_hosts')
        .where('name', '=', name)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n) return false;
      await markChanged(trx, name, this.#dialect);
      return true;
    });
  }

  async claim(allocation: AllocationRecord): Promise<boolean> {
    const hostRow = await this.#db
      .selectFrom('compute_hosts')
      .select('doc')
      .where('name', '=', allocation.host)
      .executeTakeFirst();
    if (hostRow === undefined) return false;
    const host = JSON.parse(hostRow.doc) as ComputeHostRecord;
    // What is left with nothing used; the guard below checks the room left with what is used.
    if (!fitsOnHost(host, toUsage(undefined), allocation.resources)) return false;
    const room = roomOn(host);
    const { VCPU: vcpu, MEMORY_MB: memory_mb, DISK_GB: disk_gb } = allocation.resources;
    try {
      return await this.#db.transaction().execute(async (trx) => {
        // Writes only, so that on SQLite the transaction takes the write lock at its first
        // statement (waiting for another process's, with busy_timeout) instead of failing to
        // upgrade a read; on PostgreSQL the usage row's lock orders concurrent claims.
        const taken = await trx
          .insertInto('allocations')
          .values({
            consumer_id: allocation.consumerId,
            host: allocation.host,
            vcpu,
            memory_mb,
            disk_gb,
          })
          .onConflict((oc) => oc.column('consumer_id').doNothing())
          .returning('consumer_id')
          .executeTakeFirst();
        if (taken === undefined) return false;
        // The claim itself: one guarded write, which adds the resources only while they fit.
        const claimed = await trx
          .insertInto('host_usage')
          .values({ host: allocation.host, vcpu, memory_mb, disk_gb })
          .onConflict((oc) =>
            oc
              .column('host')
              .doUpdateSet((eb) => ({
                vcpu: eb('host_usage.vcpu', '+', vcpu),
                memory_mb: eb('host_usage.memory_mb', '+', memory_mb),
                disk_gb: eb('host_usage.disk_gb', '+', disk_gb),
              }))
              .where((eb) =>
                eb.and([
                  eb(eb('host_usage.vcpu', '+', vcpu), '<=', room.vcpu),
                  eb(eb('host_usage.memory_mb', '+', memory_mb), '<=', room.memory_mb),
                  eb(eb('host_usage.disk_gb', '+', disk_gb), '<=', room.disk_gb),
                ]),
              ),
          )
          .returning('host')
          .executeTakeFirst();
        if (claimed === undefined) throw new NoRoom();
        await markChanged(trx, allocation.host, this.#dialect);
        return true;
      });
    } catch (error) {
      // No room: the transaction rolled the allocation back.
      if (error instanceof NoRoom) return false;
      throw error;
    }
  }

  async releaseClaim(consumerId: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const held = await trx
        .deleteFrom('allocations')
        .where('consumer_id', '=', consumerId)
        .returningAll()
        .executeTakeFirst();
      if (held === undefined) return false;
      await trx
        .updateTable('host_usage')
        .set((eb) => ({
          vcpu: eb('vcpu', '-', held.vcpu),
          memory_mb: eb('memory_mb', '-', held.memory_mb),
          disk_gb: eb('disk_gb', '-', held.disk_gb),
        }))
        .where('host', '=', held.host)
        .execute();
      await markChanged(trx, held.host, this.#dialect);
      return true;
    });
  }

  async hostChangeSeq(): Promise<number> {
    const row = await this.#db
      .selectFrom('host_change_seq')
      .select('seq')
      .where('id', '=', 1)
      .executeTakeFirstOrThrow();
    return row.seq;
  }

  async hostChangesSince(seq: number): Promise<HostChanges> {
    // One statement, so one snapshot: the point and the hosts changed after `seq` up to it.
    const rows = await this.#db
      .selectFrom('host_change_seq as c')
      .leftJoin('host_changes as hc', (join) => join.on('hc.seq', '>', seq))
      .leftJoin('compute_hosts as ch', 'ch.name', 'hc.host')
      .leftJoin('host_usage as hu', 'hu.host', 'hc.host')
      .select([
        'c.seq as point',
        'c.aggregates_seq',
        'hc.host',
        'ch.doc',
        'hu.vcpu',
        'hu.memory_mb',
        'hu.disk_gb',
      ])
      .where('c.id', '=', 1)
      // No ORDER BY: sorting by host would read every host's mark instead of the index on seq.
      .execute();
    const [first] = rows;
    if (first === undefined) throw new Error('the host change sequence has no row');
    const hosts: ComputeHostRecord[] = [];
    const usage = new Map<string, HostUsage>();
    const removed: string[] = [];
    for (const row of rows) {
      if (row.host === null) continue;
      if (row.doc === null) {
        removed.push(row.host);
        continue;
      }
      hosts.push(JSON.parse(row.doc) as ComputeHostRecord);
      if (row.vcpu !== null && row.memory_mb !== null && row.disk_gb !== null) {
        usage.set(row.host, { VCPU: row.vcpu, MEMORY_MB: row.memory_mb, DISK_GB: row.disk_gb });
      }
    }
    hosts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    removed.sort();
    return {
      seq: first.point,
      hosts,
      usage,
      removed,
      ...(first.aggregates_seq > seq ? { aggregates: await this.listAggregates() } : {}),
    };
  }

  async usageByHost(): Promise<Map<string, HostUsage>> {
    const rows = await this.#db.selectFrom('host_usage').selectAll().execute();
    return new Map(rows.map((row) => [row.host, toUsage(row)]));
  }

  async listAllocations(host?: string): Promise<AllocationRecord[]> {
    let query = this.#db.selectFrom('allocations').selectAll().orderBy('consumer_id');
    if (host !== undefined) query = query.where('host', '=', host);
    return (await query.execute()).map(toAllocation);
  }

  async close(): Promise<void> {
    await this.#db.destroy();
    await this.#onClose();
  }

  /**
   * Runs the work in one transaction, with a unique-constraint violation turned into the store's
   * own `*.exists` error (from onClash): the work's checks see no clash, but a concurrent writer
   * (another process, on PostgreSQL) can still take the id or name before its insert (23505).
   */
  async #transaction<T>(
    onClash: (error: unknown) => Error,
    work: (trx: Transaction<Tables>) => Promise<T>,
  ): Promise<T> {
    try {
      return await this.#db.transaction().execute(work);
    } catch (error) {
      if (isUniqueViolation(error)) throw onClash(error);
      throw error;
    }
  }

  async #readFlavors(
    db: Kysely<Tables> | Transaction<Tables>,
    id?: string | readonly string[],
  ): Promise<FlavorRecord[]> {
    if (typeof id === 'string') return this.#readFlavor(db, id);
    const ids = id;
    let query = db.selectFrom('flavors').selectAll().orderBy('id');
    if (ids !== undefined) query = query.where('id', 'in', ids);
    const rows = await query.execute();
    if (rows.length === 0) return [];
    let specQuery = db.selectFrom('flavor_extra_specs').selectAll().orderBy('key');
    if (ids !== undefined) specQuery = specQuery.where('flavor_id', 'in', ids);
    const specs = groupBy(await specQuery.execute(), (s) => s.flavor_id);
    return rows.map((row) =>
      toFlavorRecord(
        row,
        (specs.get(row.id) ?? []).map((s) => [s.key, s.value]),
      ),
    );
  }

  /** One flavor with its extra specs, in one statement (a create reads it on every request). */
  async #readFlavor(db: Kysely<Tables> | Transaction<Tables>, id: string): Promise<FlavorRecord[]> {
    const rows = await db
      .selectFrom('flavors')
      .leftJoin('flavor_extra_specs', 'flavor_extra_specs.flavor_id', 'flavors.id')
      .selectAll('flavors')
      .select(['flavor_extra_specs.key as spec_key', 'flavor_extra_specs.value as spec_value'])
      .where('flavors.id', '=', id)
      .orderBy('flavor_extra_specs.key')
      .execute();
    const [row] = rows;
    if (row === undefined) return [];
    return [
      toFlavorRecord(
        row,
        joinedPairs(rows, (r) => [r.spec_key, r.spec_value]),
      ),
    ];
  }

  async #readImages(filter: ImageFilter & { id?: string }): Promise<ImageRecord[]> {
    let query = this.#db.selectFrom('images').selectAll().orderBy('created_at').orderBy('id');
    if (filter.id !== undefined) query = query.where('id', '=', filter.id);
    if (filter.name !== undefined) query = query.where('name', '=', filter.name);
    if (filter.owner !== undefined) query = query.where('owner', '=', filter.owner);
    if (filter.visibility !== undefined) query = query.where('visibility', '=', filter.visibility);
    const rows = await query.execute();
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const propRows = [];
    for (const batch of batches(ids)) {
      propRows.push(
        ...(await this.#db
          .selectFrom('image_properties')
          .selectAll()
          .where('image_id', 'in', batch)
          .orderBy('key')
          .execute()),
      );
    }
    const props = groupBy(propRows, (p) => p.image_id);
    return rows.map((row) =>
      toImageRecord(
        row,
        (props.get(row.id) ?? []).map((p) => [p.key, p.value]),
      ),
    );
  }
}

async function insertSpecs(
  trx: Transaction<Tables>,
  flavorId: string,
  specs: Readonly<Record<string, string>>,
): Promise<void> {
  const rows = Object.entries(specs).map(([key, value]) => ({ flavor_id: flavorId, key, value }));
  for (const batch of batches(rows)) {
    await trx
      .insertInto('flavor_extra_specs')
      .values(batch)
      .onConflict((oc) =>
        oc.columns(['flavor_id', 'key']).doUpdateSet({ value: sql`excluded.value` }),
      )
      .execute();
  }
}

async function insertProperties(
  trx: Transaction<Tables>,
  imageId: string,
  properties: Readonly<Record<string, string>>,
): Promise<void> {
  const rows = Object.entries(properties).map(([key, value]) => ({
    image_id: imageId,
    key,
    value,
  }));
  for (const batch of batches(rows)) {
    await trx.insertInto('image_properties').values(batch).execute();
  }
}

/**
 * Rows (or ids of an `in` list) per statement. Each binds a few variables, and SQLite refuses a
 * statement with more than SQLITE_MAX_VARIABLE_NUMBER of them (32766 in the bundled SQLite, 999 in
 * builds before 3.32): 300 rows of three columns stay under either, so no number of rows makes the
 * store fail.
 */
const ROWS_PER_STATEMENT = 300;

const FLAVOR_COLUMNS: Readonly<Record<FlavorSortKey, string>> = {
  id: 'id',
  name: 'name',
  memoryMiB: 'memory_mib',
  diskGiB: 'disk_gib',
  vcpus: 'vcpus',
  swapMiB: 'swap_mib',
  ephemeralGiB: 'ephemeral_gib',
  rxtxFactor: 'rxtx_factor',
  isPublic: 'is_public',
  description: 'description',
  createdAt: 'created_at',
};

function batches<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let at = 0; at < rows.length; at += ROWS_PER_STATEMENT) {
    out.push(rows.slice(at, at + ROWS_PER_STATEMENT));
  }
  return out;
}

/** A group's document holds everything but its members, which are rows of their own. */
function quotaRowKey(scope: QuotaScope): {
  kind: QuotaScope['kind'];
  owner: string;
  userId: string;
} {
  switch (scope.kind) {
    case 'class':
      return { kind: 'class', owner: scope.name, userId: '' };
    case 'project':
      return { kind: 'project', owner: scope.projectId, userId: '' };
    case 'user':
      return { kind: 'user', owner: scope.projectId, userId: scope.userId };
  }
}

function fromKeypairRow(row: Selectable<Tables['keypairs']>): KeypairRecord {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    type: row.type,
    publicKey: row.public_key,
    fingerprint: row.fingerprint,
    createdAt: row.created_at,
  };
}

function aggregateDoc(aggregate: Omit<AggregateRecord, 'id'>): string {
  const { uuid, hosts, metadata, createdAt, updatedAt } = aggregate;
  return JSON.stringify({ uuid, hosts, metadata, createdAt, updatedAt });
}

function fromAggregateRow(row: { id: number; name: string; doc: string }): AggregateRecord {
  return {
    ...(JSON.parse(row.doc) as Omit<AggregateRecord, 'id' | 'name'>),
    id: row.id,
    name: row.name,
  };
}

function toServerGroupRow(group: ServerGroupRecord): Tables['server_groups'] {
  const doc: Omit<ServerGroupRecord, 'members'> & { members?: unknown } = { ...group };
  delete doc.members;
  return {
    id: group.id,
    project_id: group.projectId,
    created_at: group.createdAt,
    doc: JSON.stringify(doc),
  };
}
const SERVER_COLUMNS = ['doc', 'locked_by', 'locked_reason', 'tags'] as const;

function toServerRow(server: ServerRecord): Tables['servers'] {
  return {
    id: server.id,
    project_id: server.projectId,
    created_at: server.createdAt,
    doc: serverDoc(server),
    locked_by: server.lock?.by ?? null,
    locked_reason: server.lock?.reason ?? null,
    tags: JSON.stringify(server.tags),
  };
}

/** The server's document: everything but the lock and tags, which have their own columns. */
function serverDoc(server: ServerRecord): string {
  // JSON.stringify leaves out keys whose value is undefined.
  return JSON.stringify({ ...server, lock: undefined, tags: undefined });
}

function toServer(
  row: Pick<Tables['servers'], 'doc' | 'locked_by' | 'locked_reason' | 'tags'>,
): ServerRecord {
  const doc = JSON.parse(row.doc) as Omit<ServerRecord, 'lock' | 'tags'>;
  return {
    ...doc,
    lock: row.locked_by === null ? null : { by: row.locked_by, reason: row.locked_reason },
    tags: JSON.parse(row.tags) as string[],
  };
}

/** An images row and its properties (key, value, in key order) as an ImageRecord. */
function toImageRecord(
  row: Selectable<Tables['images']>,
  properties: readonly (readonly [string, string])[],
): ImageRecord {
  return {
    id: row.id,
    name: row.name,
    owner: row.owner,
    visibility: row.visibility as Visibility,
    status: row.status as ImageStatus,
    protected: row.protected === 1,
    osHidden: row.os_hidden === 1,
    diskFormat: row.disk_format,
    containerFormat: row.container_format,
    minDiskGiB: row.min_disk_gib,
    minRamMiB: row.min_ram_mib,
    tags: JSON.parse(row.tags) as string[],
    properties: Object.fromEntries(properties),
    size: row.size,
    checksum: row.checksum,
    osHashAlgo: row.os_hash_algo,
    osHashValue: row.os_hash_value,
    dataLocation: row.data_location,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A flavors row and its extra specs (key, value, in key order) as a FlavorRecord. */
function toFlavorRecord(
  row: Selectable<Tables['flavors']>,
  extraSpecs: readonly (readonly [string, string])[],
): FlavorRecord {
  return {
    id: row.id,
    name: row.name,
    vcpus: row.vcpus,
    memoryMiB: row.memory_mib,
    diskGiB: row.disk_gib,
    swapMiB: row.swap_mib,
    ephemeralGiB: row.ephemeral_gib,
    rxtxFactor: row.rxtx_factor,
    isPublic: row.is_public === 1,
    description: row.description,
    extraSpecs: Object.fromEntries(extraSpecs),
    createdAt: row.created_at,
  };
}

/** The (key, value) pairs of a left join's rows, without the null one a record with none has. */
function joinedPairs<R>(
  rows: readonly R[],
  pair: (row: R) => readonly [string | null, string | null],
): [string, string][] {
  return rows.flatMap((row) => {
    const [key, value] = pair(row);
    return key === null || value === null ? [] : [[key, value] as [string, string]];
  });
}

/** The upsert of an instance action (its request id within its server is the key). */
function putActionQuery(db: Pick<Kysely<Tables>, 'insertInto'>, action: InstanceActionRecord) {
  const doc = JSON.stringify(action);
  return db
    .insertInto('instance_actions')
    .values({
      server_id: action.serverId,
      request_id: action.requestId,
      start_time: action.startTime,
      doc,
    })
    .onConflict((oc) => oc.columns(['server_id', 'request_id']).doUpdateSet({ doc }));
}

/** Whether the error is a unique or primary-key violation, on PostgreSQL (23505) or SQLite. */
function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE'
  );
}

/** The constraint (PostgreSQL) or the columns (SQLite's message) a unique violation names. */
function uniqueTarget(error: unknown): string {
  const { constraint, message } = error as { constraint?: unknown; message?: unknown };
  return typeof constraint === 'string' ? constraint : typeof message === 'string' ? message : '';
}

/** What markChanged() records when the aggregates (membership, zones) change. */
const AGGREGATES = Symbol('aggregates');

/**
 * Moves the host change sequence on and marks the host (or the aggregates) as changed there. Last
 * in its transaction: the sequence row's lock is then held only until the commit, and taken after
 * every other lock, so it orders writers without deadlocking them.
 */
async function markChanged(
  trx: Transaction<Tables>,
  what: string | typeof AGGREGATES,
  dialect: StoreDialect,
): Promise<void> {
  if (dialect === 'postgres' && what !== AGGREGATES) {
    // One round trip instead of two: PostgreSQL runs an UPDATE inside WITH (SQLite cannot).
    await sql`with moved as (update host_change_seq set seq = seq + 1 where id = 1 returning seq)
      insert into host_changes (host, seq) select ${what}, seq from moved
      on conflict (host) do update set seq = excluded.seq`.execute(trx);
    return;
  }
  const { seq } = await trx
    .updateTable('host_change_seq')
    .set((eb) => ({
      seq: eb('seq', '+', 1),
      ...(what === AGGREGATES ? { aggregates_seq: eb('seq', '+', 1) } : {}),
    }))
    .where('id', '=', 1)
    .returning('seq')
    .executeTakeFirstOrThrow();
  if (what === AGGREGATES) return;
  await trx
    .insertInto('host_changes')
    .values({ host: what, seq })
    .onConflict((oc) => oc.column('host').doUpdateSet({ seq: sql`excluded.seq` }))
    .execute();
}

/** Thrown inside a claim's transaction to roll it back when the host has no room left. */
class NoRoom extends Error {}

/** The largest usage per class the host allows ((total - reserved) x ratio), as integer columns. */
/** A host's record: its document, with the heartbeat when it has reported one. */
function toComputeHost(row: { doc: string; heartbeat_at: string | null }): ComputeHostRecord {
  const host = JSON.parse(row.doc) as ComputeHostRecord;
  return row.heartbeat_at === null ? host : { ...host, heartbeatAt: row.heartbeat_at };
}

function roomOn(host: ComputeHostRecord): Tables['host_usage'] {
  const room = (rc: ClaimResourceClass): number => {
    const { total, reserved, allocationRatio } = host.inventory[rc];
    // The columns are integers, so used + n <= capacity holds exactly when it holds for the
    // capacity's floor; the bound keeps the parameter inside a 32-bit integer.
    return Math.min(Math.floor((total - reserved) * allocationRatio), 2 ** 31 - 1);
  };
  return {
    host: host.name,
    vcpu: room('VCPU'),
    memory_mb: room('MEMORY_MB'),
    disk_gb: room('DISK_GB'),
  };
}

function toUsage(row: Tables['host_usage'] | undefined): HostUsage {
  return { VCPU: row?.vcpu ?? 0, MEMORY_MB: row?.memory_mb ?? 0, DISK_GB: row?.disk_gb ?? 0 };
}

function toAllocation(row: Tables['allocations']): AllocationRecord {
  return {
    consumerId: row.consumer_id,
    host: row.host,
    resources: { VCPU: row.vcpu, MEMORY_MB: row.memory_mb, DISK_GB: row.disk_gb },
  };
}

function toProject(row: Selectable<Tables['projects']>): ProjectRecord {
  return {
    id: row.id,
    name: row.name,
    domainId: row.domain_id,
    description: row.description,
    enabled: row.enabled === 1,
    ...(row.parent_id === null ? {} : { parentId: row.parent_id }),
    ...extraOf(row.extra),
  };
}

function projectRow(project: ProjectRecord) {
  return {
    id: project.id,
    name: project.name,
    domain_id: project.domainId,
    description: project.description,
    enabled: project.enabled ? 1 : 0,
    parent_id: project.parentId ?? null,
    extra: JSON.stringify(project.extra ?? {}),
  };
}

function toUser(row: Selectable<Tables['users']>): UserRecord {
  return {
    id: row.id,
    name: row.name,
    domainId: row.domain_id,
    passwordHash: row.password_hash,
    enabled: row.enabled === 1,
    ...(row.default_project_id === null ? {} : { defaultProjectId: row.default_project_id }),
    ...extraOf(row.extra),
  };
}

function userRow(user: UserRecord) {
  return {
    id: user.id,
    name: user.name,
    domain_id: user.domainId,
    password_hash: user.passwordHash,
    enabled: user.enabled ? 1 : 0,
    default_project_id: user.defaultProjectId ?? null,
    extra: JSON.stringify(user.extra ?? {}),
  };
}

/** `{ extra }` when the stored JSON holds any attribute, else nothing. */
function extraOf(text: string): { extra?: Record<string, unknown> } {
  const extra = JSON.parse(text) as Record<string, unknown>;
  return Object.keys(extra).length === 0 ? {} : { extra };
}

function toApplicationCredential(
  row: Selectable<Tables['application_credentials']>,
): ApplicationCredentialRecord {
  return {
    id: row.id,
    name: row.name,
    userId: row.user_id,
    projectId: row.project_id,
    description: row.description,
    secretHash: row.secret_hash,
    expiresAt: row.expires_at,
    unrestricted: row.unrestricted === 1,
    roleIds: JSON.parse(row.role_ids) as string[],
  };
}

function toMemberRow(member: ImageMemberRecord): Tables['image_members'] {
  return {
    image_id: member.imageId,
    member_id: member.memberId,
    status: member.status,
    created_at: member.createdAt,
    updated_at: member.updatedAt,
  };
}

function fromMemberRow(row: Tables['image_members']): ImageMemberRecord {
  return {
    imageId: row.image_id,
    memberId: row.member_id,
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toImageRow(image: ImageRecord): Tables['images'] {
  return {
    id: image.id,
    name: image.name,
    owner: image.owner,
    visibility: image.visibility,
    status: image.status,
    protected: image.protected ? 1 : 0,
    os_hidden: image.osHidden ? 1 : 0,
    disk_format: image.diskFormat,
    container_format: image.containerFormat,
    min_disk_gib: image.minDiskGiB,
    min_ram_mib: image.minRamMiB,
    tags: JSON.stringify(image.tags),
    size: image.size,
    checksum: image.checksum,
    os_hash_algo: image.osHashAlgo,
    os_hash_value: image.osHashValue,
    data_location: image.dataLocation,
    created_at: image.createdAt,
    updated_at: image.updatedAt,
  };
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group === undefined) groups.set(k, [item]);
    else group.push(item);
  }
  return groups;
}

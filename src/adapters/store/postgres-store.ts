/**
 * The Store on PostgreSQL: the same Kysely store as the embedded SQLite one (sqlite-store.ts),
 * over Kysely's PostgreSQL dialect and a `pg` pool. Several vpmu processes can share it: claims
 * are guarded writes, creates map 23505 to the store's `*.exists` errors, and migrations run under
 * an advisory lock so processes starting together apply each one once.
 */
import { createHash } from 'node:crypto';
import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { LockOutcome } from '../../ports/store.js';
import { ProcessLocks } from './process-locks.js';
import { MIGRATIONS, SqliteStore, type StoreLock, type Tables } from './sqlite-store.js';

/** pg_advisory_lock key held around the migrations (any constant that other users won't pick). */
const MIGRATION_LOCK = 0x76706d75; // "vpmu"
/** How long a start waits for the database to answer, and for another start's migrations. */
const CONNECT_TIMEOUT_MS = 30_000;
const MIGRATION_LOCK_TIMEOUT_S = 300;

/** pg's parsers, but counts and bigint columns come back as numbers, as they do from SQLite. */
const parserOf: typeof pg.types.getTypeParser = (oid, format) =>
  oid === pg.types.builtins.INT8 && format !== 'binary'
    ? Number
    : (pg.types.getTypeParser(oid, format) as unknown);

export interface PostgresStoreOptions {
  /** The schema the tables live in (created if missing); default: the connection's current one. */
  readonly schema?: string;
  /** The most connections the pool opens (pg's default is 10). */
  readonly maxConnections?: number;
}

/**
 * Opens a `postgres://` (or `postgresql://`) URL and applies pending migrations. The database must
 * exist; the store creates its tables.
 */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<SqliteStore> {
  const where = describeUrl(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    ...(options.schema === undefined
      ? {}
      : { options: `-c search_path=${quoteIdent(options.schema)}` }),
    types: { getTypeParser: parserOf },
    // A server that does not answer is an error at start, not a hang.
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  // An idle client that loses its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
  let schema: string;
  try {
    await migrate(db, options.schema);
    ({
      rows: [{ schema } = { schema: '' }],
    } = await sql<{
      schema: string;
    }>`select current_schema() as schema`.execute(db));
  } catch (error) {
    await db.destroy();
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot open the PostgreSQL database ${where}: ${reason}`, { cause: error });
  }
  const lockPool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  lockPool.on('error', () => undefined);
  return new SqliteStore(db, 'postgres', {
    lock: advisoryLocks(lockPool, schema),
    onClose: () => lockPool.end(),
  });
}

/**
 * Store.withLock across processes: a session advisory lock (keyed by the schema and the name, as
 * advisory locks are per database) held on a connection of its own pool,
 * so the work (on the store's pool) can never wait for the connection its lock holds. Holders
 * in this process queue first, so each process has at most one connection waiting per name.
 */
function advisoryLocks(pool: pg.Pool, schema: string): StoreLock {
  const local = new ProcessLocks();
  return async <T>(
    name: string,
    work: () => Promise<T>,
    ifHeld: 'wait' | 'skip',
  ): Promise<LockOutcome<T>> => {
    if (ifHeld === 'skip' && local.held(name)) return { ran: false };
    return local.run(name, async (): Promise<LockOutcome<T>> => {
      const key = lockKey(`${schema}:${name}`);
      const client = await pool.connect();
      let broken: unknown;
      try {
        if (ifHeld === 'skip') {
          const { rows } = await client.query<{ ok: boolean }>(
            'select pg_try_advisory_lock($1::bigint) as ok',
            [key],
          );
          if (rows[0]?.ok !== true) return { ran: false };
        } else {
          await client.query('select pg_advisory_lock($1::bigint)', [key]);
        }
        try {
          return { ran: true, value: await work() };
        } finally {
          await client
            .query('select pg_advisory_unlock($1::bigint)', [key])
            .catch((error: unknown) => {
              // A connection that cannot unlock must not go back to the pool holding the lock.
              broken = error;
            });
        }
      } finally {
        client.release(broken instanceof Error ? broken : undefined);
      }
    });
  };
}

/** A lock name's advisory key: 64 bits of its SHA-256, as a decimal string (a bigint). */
function lockKey(name: string): string {
  return createHash('sha256').update(`vpmu:${name}`).digest().readBigInt64BE(0).toString();
}

/**
 * Creates `createSchema` if given and applies pending migrations, holding a session advisory lock
 * on one connection: a second process waits there, then finds nothing left to do (Kysely's own
 * lock is taken only after it has created its bookkeeping tables, which two first starts would
 * race to create).
 */
async function migrate(db: Kysely<Tables>, createSchema: string | undefined): Promise<void> {
  await db.connection().execute(async (connection) => {
    // Bounded: a process that holds the lock and hangs makes this start fail, not wait forever.
    await sql.raw(`set lock_timeout = '${MIGRATION_LOCK_TIMEOUT_S}s'`).execute(connection);
    await sql`select pg_advisory_lock(${MIGRATION_LOCK})`.execute(connection);
    await sql`reset lock_timeout`.execute(connection);
    try {
      // Under the lock too: two `create schema if not exists` at once can still clash (23505).
      if (createSchema !== undefined) {
        await sql`create schema if not exists ${sql.id(createSchema)}`.execute(connection);
      }
      const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(
        connection,
      );
      const schema = rows[0]?.schema;
      if (schema === undefined) throw new Error('the connection has no current schema');
      const migrator = new Migrator({
        db,
        // Kysely finds its bookkeeping tables in any schema unless told which one is ours.
        migrationTableSchema: schema,
        provider: { getMigrations: async () => MIGRATIONS },
      });
      const { error, results } = await migrator.migrateToLatest();
      if (error !== undefined) {
        const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
        throw new Error(
          `migration ${failed} failed: ${error instanceof Error ? error.message : 'unknown error'}`,
          {
            cause: error,
          },
        );
      }
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK})`.execute(connection);
    }
  });
}

/** The URL without its password, for messages (the store may not import notifications/). */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

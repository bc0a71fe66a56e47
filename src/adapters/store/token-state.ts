/**
 * Token validation's read, in one query on SQLite and PostgreSQL alike: the token joined to its
 * user, its project, the user's roles on that project and its application credential. API
 * processes that share a PostgreSQL store keep no validated tokens, so every request costs this
 * query; one round trip instead of five is most of that cost.
 */
import type { CompiledQuery, InferResult, Kysely, Selectable, Transaction } from 'kysely';
import { orderRoleNames, type Role, type TokenRecord, type TokenState } from '../../ports/store.js';
import type { Tables } from './sqlite-store.js';

/** A tokens row as a TokenRecord. */
export function toTokenRecord(row: Selectable<Tables['tokens']>): TokenRecord {
  return {
    id: row.id,
    userId: row.user_id,
    projectId: row.project_id,
    roles: JSON.parse(row.roles) as Role[],
    issuedAt: row.issued_at,
    expiresAt: row.expires_at,
    auditId: row.audit_id,
    ...(row.methods === null ? {} : { methods: JSON.parse(row.methods) as string[] }),
    ...(row.app_cred_id === null ? {} : { applicationCredentialId: row.app_cred_id }),
  };
}

/** See Store.getTokenState(): one row per role held (or one with none), read at once. */
export async function readTokenState(
  db: Kysely<Tables> | Transaction<Tables>,
  id: string,
): Promise<TokenState | undefined> {
  const rows = await tokenStateQuery(db, id);
  const [row] = rows;
  if (row === undefined) return undefined;
  const held = rows.flatMap((r) => (r.held_role === null ? [] : [r.held_role]));
  return {
    token: toTokenRecord(row),
    heldRoles: orderRoleNames(held),
    ...(row.user_found === null
      ? {}
      : {
          user: { id: row.user_found, name: row.user_name ?? '', enabled: row.user_enabled === 1 },
        }),
    ...(row.project_found === null
      ? {}
      : {
          project: {
            id: row.project_found,
            name: row.project_name ?? '',
            enabled: row.project_enabled === 1,
          },
        }),
    ...(row.credential_found === null
      ? {}
      : {
          applicationCredential: {
            id: row.credential_found,
            name: row.credential_name ?? '',
            unrestricted: row.credential_unrestricted === 1,
          },
        }),
  };
}

function buildQuery(db: Kysely<Tables> | Transaction<Tables>, id: string) {
  return db
    .selectFrom('tokens')
    .leftJoin('users', 'users.id', 'tokens.user_id')
    .leftJoin('projects', 'projects.id', 'tokens.project_id')
    .leftJoin('role_assignments', (join) =>
      join
        .onRef('role_assignments.user_id', '=', 'tokens.user_id')
        .onRef('role_assignments.project_id', '=', 'tokens.project_id'),
    )
    .leftJoin('roles', 'roles.id', 'role_assignments.role')
    .leftJoin('application_credentials', 'application_credentials.id', 'tokens.app_cred_id')
    .selectAll('tokens')
    .select([
      'users.id as user_found',
      'users.name as user_name',
      'users.enabled as user_enabled',
      'projects.id as project_found',
      'projects.name as project_name',
      'projects.enabled as project_enabled',
      'roles.name as held_role',
      'application_credentials.id as credential_found',
      'application_credentials.name as credential_name',
      'application_credentials.unrestricted as credential_unrestricted',
    ])
    .where('tokens.id', '=', id);
}

/** The query, compiled once per database (building it cost more than running it), run with `id`. */
const compiled = new WeakMap<object, CompiledQuery>();

async function tokenStateQuery(db: Kysely<Tables> | Transaction<Tables>, id: string) {
  let query = compiled.get(db);
  if (query === undefined) {
    query = buildQuery(db, '').compile();
    // The token id is its only parameter, replaced on each run.
    if (query.parameters.length !== 1) throw new TypeError('token state query: one parameter');
    compiled.set(db, query);
  }
  type Row = InferResult<ReturnType<typeof buildQuery>>[number];
  const result = await db.executeQuery<Row>({ ...query, parameters: [id] });
  return result.rows;
}

import type { Db } from '#shared/db/knex';
import type { ApiKeyRow } from '#shared/db/rows';
import { mintToken, parseToken } from '#shared/tokens';
import { paginate, type Page, type PageRequest } from '../http/pagination.ts';

export type { ApiKeyRow };

/**
 * The `api_keys` table, the one home of its SQL: the bearer keys of partner users. A row is a
 * standing key (`user`: the first one made with the user, or one the user minted and named) or
 * a session (`session`: from e-mail sign-in, with an expiry). Tokens read `hhk_<lookup>_<secret>`
 * (see shared/tokens.ts); only a SHA-256 of the secret is stored.
 */

/** The token prefix of partner user keys and sessions (`hhk_…`) and their row-id prefix. */
export const USER_KEY_PREFIX = 'hhk';
export const USER_KEY_ID_PREFIX = 'key';

/** What a key is: a standing key of a user, or a session from e-mail sign-in. */
export type ApiKeyKind = 'user' | 'session';

/** Last-used times are kept to the minute: at most one write per key per minute of use. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/** Mints a key and stores its hash; the token is returned once and never stored. */
export async function insertKey(
  db: Db,
  input: { partnerId: string; userId: string; kind: ApiKeyKind; name?: string | null; expiresAt?: Date | null },
): Promise<{ row: ApiKeyRow; token: string }> {
  const minted = mintToken(USER_KEY_PREFIX, USER_KEY_ID_PREFIX);
  const [row] = (await db('api_keys')
    .insert({
      id: minted.id,
      partner_id: input.partnerId,
      user_id: input.userId,
      kind: input.kind,
      name: input.name ?? null,
      secret_hash: minted.hash,
      expires_at: input.expiresAt ?? null,
    })
    .returning('*')) as ApiKeyRow[];
  return { row: row!, token: minted.token };
}

/**
 * The live key a token names (not revoked, not expired), or null; the caller compares the
 * secret's hash. A token not of the `hhk_` form is null without a query.
 */
export async function findLiveKey(db: Db, token: string): Promise<{ row: ApiKeyRow; secret: string } | null> {
  const parsed = parseToken(USER_KEY_PREFIX, USER_KEY_ID_PREFIX, token);
  if (!parsed) return null;
  const row = (await db('api_keys')
    .where({ id: parsed.id })
    .whereNull('revoked_at')
    .where((q) => q.whereNull('expires_at').orWhere('expires_at', '>', db.fn.now()))
    .first()) as ApiKeyRow | undefined;
  return row ? { row, secret: parsed.secret } : null;
}

/** True when a key's last-used time is older than LAST_USED_RESOLUTION_MS (or unset). */
export const lastUsedIsStale = (row: Pick<ApiKeyRow, 'last_used_at'>, now = Date.now()) =>
  !row.last_used_at || now - row.last_used_at.getTime() >= LAST_USED_RESOLUTION_MS;

/**
 * Records that a key was used now. The condition repeats the staleness check in SQL, so
 * concurrent requests of one key write the row once per minute at most.
 */
export async function touchKey(db: Db, keyId: string): Promise<void> {
  await db('api_keys')
    .where({ id: keyId })
    .where((q) => q.whereNull('last_used_at').orWhere('last_used_at', '<', db.raw(`now() - (? * interval '1 millisecond')`, [LAST_USED_RESOLUTION_MS])))
    .update({ last_used_at: db.fn.now() });
}

/** One page of a user's standing keys (not sessions), newest first, revoked ones included. */
export async function listUserKeys(db: Db, partnerId: string, userId: string, page: PageRequest): Promise<Page<ApiKeyRow>> {
  const query = db('api_keys').select('api_keys.*').where({ partner_id: partnerId, user_id: userId, kind: 'user' });
  return paginate<ApiKeyRow & Record<string, unknown>>(db, query, page, { keys: ['created_at', 'id'], order: 'desc' });
}

/** How many standing keys of a user are active. */
export async function countActiveUserKeys(db: Db, partnerId: string, userId: string): Promise<number> {
  const row = (await db('api_keys')
    .where({ partner_id: partnerId, user_id: userId, kind: 'user' })
    .whereNull('revoked_at')
    .count({ n: '*' })
    .first()) as { n: number | string };
  return Number(row.n);
}

/** Revokes one of a user's standing keys now; the row, or null if the user has no such active key. */
export async function revokeUserKey(db: Db, partnerId: string, userId: string, keyId: string): Promise<ApiKeyRow | null> {
  const rows = (await db('api_keys')
    .where({ id: keyId, partner_id: partnerId, user_id: userId, kind: 'user' })
    .whereNull('revoked_at')
    .update({ revoked_at: db.fn.now() })
    .returning('*')) as ApiKeyRow[];
  return rows[0] ?? null;
}

/** Revokes every key of a user now. */
export async function revokeKeysOfUser(db: Db, userId: string): Promise<void> {
  await db('api_keys').where({ user_id: userId }).whereNull('revoked_at').update({ revoked_at: db.fn.now() });
}

/** Ends one key now (a session at sign-out). */
export async function revokeKey(db: Db, keyId: string): Promise<void> {
  await db('api_keys').where({ id: keyId }).whereNull('revoked_at').update({ revoked_at: db.fn.now() });
}

/** When a key expires (null: never). */
export async function keyExpiry(db: Db, keyId: string): Promise<Date | null> {
  const row = (await db('api_keys').where({ id: keyId }).first('expires_at')) as { expires_at: Date | null } | undefined;
  return row?.expires_at ?? null;
}

import type { Db } from '#shared/db/knex';
import { mintToken } from '#shared/tokens';
import { USER_KEY_ID_PREFIX, USER_KEY_PREFIX } from '../http/auth.ts';

/** A sign-in code's row after one more try was counted. */
export interface CountedTry {
  userId: string | null;
  codeHash: string;
  attempts: number;
  expiresAt: Date;
}

/**
 * Stores the address's code, replacing any earlier one (and its count of tries). The user is
 * looked up in the same statement; an unknown address gets a row with no user, so the work and
 * every later answer are the same as for a registered one.
 */
export async function upsertSignInCode(db: Db, email: string, codeHash: string, expiresAt: Date): Promise<void> {
  await db.raw(
    `insert into sign_in_codes (email, user_id, code_hash, attempts, expires_at, created_at)
     values (?, (select id from users where email = ?), ?, 0, ?, now())
     on conflict (email) do update
       set user_id = excluded.user_id, code_hash = excluded.code_hash, attempts = 0,
           expires_at = excluded.expires_at, created_at = excluded.created_at`,
    [email, email, codeHash, expiresAt],
  );
}

/** Drops a batch of codes that expired over an hour ago; skips rows other requests hold. */
export async function pruneSignInCodes(db: Db): Promise<void> {
  await db.raw(
    `delete from sign_in_codes where email in (
       select email from sign_in_codes where expires_at < now() - interval '1 hour'
       order by expires_at limit 100 for update skip locked)`,
  );
}

/** Counts one try at the address's code (its own statement, so it sticks whatever the outcome); null if none. */
export async function countTry(db: Db, email: string): Promise<CountedTry | null> {
  const rows = (await db('sign_in_codes')
    .where({ email })
    .increment('attempts', 1)
    .returning(['user_id', 'code_hash', 'attempts', 'expires_at'])) as { user_id: string | null; code_hash: string; attempts: number; expires_at: Date }[];
  const row = rows[0];
  return row ? { userId: row.user_id, codeHash: row.code_hash, attempts: row.attempts, expiresAt: row.expires_at } : null;
}

/** Uses up the code (exactly once, even under concurrent tries); returns its user, or null if another try won. */
export async function consumeSignInCode(db: Db, email: string, codeHash: string): Promise<string | null> {
  const rows = (await db('sign_in_codes').where({ email, code_hash: codeHash }).whereNotNull('user_id').delete().returning('user_id')) as {
    user_id: string;
  }[];
  return rows[0]?.user_id ?? null;
}

/** Issues a session token for a user: an `api_keys` row of kind `session` that expires. Shown once. */
export async function insertSession(
  db: Db,
  partnerId: string,
  userId: string,
  expiresAt: Date,
): Promise<{ keyId: string; token: string }> {
  const minted = mintToken(USER_KEY_PREFIX, USER_KEY_ID_PREFIX);
  await db('api_keys').insert({ id: minted.id, partner_id: partnerId, user_id: userId, kind: 'session', secret_hash: minted.hash, expires_at: expiresAt });
  return { keyId: minted.id, token: minted.token };
}

/** Ends a session now. */
export async function revokeKey(db: Db, keyId: string): Promise<void> {
  await db('api_keys').where({ id: keyId }).whereNull('revoked_at').update({ revoked_at: db.fn.now() });
}

/** When a key expires (null: never). */
export async function keyExpiry(db: Db, keyId: string): Promise<Date | null> {
  const row = (await db('api_keys').where({ id: keyId }).first('expires_at')) as { expires_at: Date | null } | undefined;
  return row?.expires_at ?? null;
}

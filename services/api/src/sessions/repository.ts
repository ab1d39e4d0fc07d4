import type { Db } from '#shared/db/knex';

/** A sign-in code's row after one more try was counted. */
export interface CountedTry {
  codeHash: string;
  attempts: number;
  expiresAt: Date;
}

/**
 * Stores the address's code, replacing any earlier one (and its count of tries). Every address
 * gets a row, registered or not, so the work and every later answer are the same for both;
 * which user the code signs in is settled when it is exchanged.
 */
export async function upsertSignInCode(db: Db, email: string, codeHash: string, expiresAt: Date): Promise<void> {
  await db.raw(
    `insert into sign_in_codes (email, code_hash, attempts, expires_at, created_at)
     values (?, ?, 0, ?, now())
     on conflict (email) do update
       set code_hash = excluded.code_hash, attempts = 0, expires_at = excluded.expires_at, created_at = excluded.created_at`,
    [email, codeHash, expiresAt],
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
    .returning(['code_hash', 'attempts', 'expires_at'])) as { code_hash: string; attempts: number; expires_at: Date }[];
  const row = rows[0];
  return row ? { codeHash: row.code_hash, attempts: row.attempts, expiresAt: row.expires_at } : null;
}

/** Uses up the code (exactly once, even under concurrent tries); false if another try won. */
export async function consumeSignInCode(db: Db, email: string, codeHash: string): Promise<boolean> {
  return (await db('sign_in_codes').where({ email, code_hash: codeHash }).delete()) > 0;
}

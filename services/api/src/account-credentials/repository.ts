import type { Db } from '#shared/db/knex';
import type { AccountCredentialRow as CredentialRow } from '#shared/db/rows';

/** A partner's account login (null if none issued yet), locked for the rest of the transaction; null if no such partner. */
export async function partnerLoginForUpdate(db: Db, partnerId: string): Promise<{ login: string | null } | null> {
  const row = (await db('partners').where({ id: partnerId }).forUpdate().first('account_login')) as { account_login: string | null } | undefined;
  return row ? { login: row.account_login } : null;
}

/** A partner's account login; null if no such partner. */
export async function partnerLogin(db: Db, partnerId: string): Promise<{ login: string | null } | null> {
  const row = (await db('partners').where({ id: partnerId }).first('account_login')) as { account_login: string | null } | undefined;
  return row ? { login: row.account_login } : null;
}

/** Gives a partner its account login. */
export async function setPartnerLogin(db: Db, partnerId: string, login: string): Promise<void> {
  await db('partners').where({ id: partnerId }).update({ account_login: login });
}

/** How many of a partner's account keys are active. */
export async function countActiveKeys(db: Db, partnerId: string): Promise<number> {
  const row = (await db('account_credentials').where({ partner_id: partnerId }).whereNull('revoked_at').count({ n: '*' }).first()) as { n: number };
  return Number(row.n);
}

/** Stores a new account key's hash. */
export async function insertCredential(db: Db, id: string, partnerId: string, secretHash: string): Promise<{ createdAt: Date }> {
  const [row] = (await db('account_credentials').insert({ id, partner_id: partnerId, secret_hash: secretHash }).returning('created_at')) as {
    created_at: Date;
  }[];
  return { createdAt: row!.created_at };
}

/** Every account key of a partner, newest first. */
export async function listCredentials(db: Db, partnerId: string): Promise<CredentialRow[]> {
  return (await db('account_credentials').where({ partner_id: partnerId }).orderBy([
    { column: 'created_at', order: 'desc' },
    { column: 'id', order: 'desc' },
  ])) as CredentialRow[];
}

/** Revokes one of a partner's keys; false if it has no such active key. */
export async function revokeCredential(db: Db, partnerId: string, credentialId: string): Promise<boolean> {
  const n = await db('account_credentials')
    .where({ id: credentialId, partner_id: partnerId })
    .whereNull('revoked_at')
    .update({ revoked_at: db.fn.now() });
  return n > 0;
}

/** The partner holding an account login and every key under it (revoked ones too); null if no such login. */
export async function keysForLogin(
  db: Db,
  login: string,
): Promise<{ partnerId: string; keys: { id: string; secretHash: string; revoked: boolean }[] } | null> {
  const partner = (await db('partners').where({ account_login: login }).first('id')) as { id: string } | undefined;
  if (!partner) return null;
  const rows = (await db('account_credentials').where({ partner_id: partner.id }).select('id', 'secret_hash', 'revoked_at')) as {
    id: string;
    secret_hash: string;
    revoked_at: Date | null;
  }[];
  return { partnerId: partner.id, keys: rows.map((r) => ({ id: r.id, secretHash: r.secret_hash, revoked: r.revoked_at !== null })) };
}

/** Notes that a key was used (best effort). */
export async function touchCredential(db: Db, credentialId: string): Promise<void> {
  await db('account_credentials').where({ id: credentialId }).update({ last_used_at: db.fn.now() });
}

import { randomBytes } from 'node:crypto';
import type { Db, Knex } from '#shared/db/knex';
import { ConflictError, NotFoundError } from '#shared/errors';
import { isId, newId, randomText } from '#shared/ids';
import { hashSecret, safeEqual } from '#shared/tokens';
import type { Actor } from '../http/actor.ts';
import { recordAudit } from '../audit/audit.ts';
import {
  countActiveKeys,
  insertCredential,
  listCredentials,
  partnerLogin,
  partnerLoginForUpdate,
  revokeCredential,
  setPartnerLogin,
  keysForLogin,
  touchCredential,
} from './repository.ts';

/**
 * Account-level credentials: the setup from before product credentials. The operator issues a
 * partner one login (`acct_…`) with up to two active access keys under it (rotate by issuing a
 * second, then revoking the first). `POST /v1/hub/access-check` accepts them, allowing what the
 * partner's legacy grants allow. Keys are shown once and stored as SHA-256 (they are 256 random
 * bits, so a slow hash would add nothing).
 */
export const MAX_ACTIVE_ACCOUNT_KEYS = 2;
const ACCESS_KEY_PREFIX = 'hha';

const notFound = (id: string) => new NotFoundError('partner', id);

/** Issues an account access key for a partner (and its login, the first time). */
export async function issueAccountCredential(db: Knex, actor: Actor, partnerId: string) {
  if (!isId('partner', partnerId)) throw notFound(partnerId);
  return db.transaction(async (trx) => {
    const partner = await partnerLoginForUpdate(trx, partnerId);
    if (!partner) throw notFound(partnerId);
    if ((await countActiveKeys(trx, partnerId)) >= MAX_ACTIVE_ACCOUNT_KEYS) {
      throw new ConflictError('too_many_keys', `a partner has at most ${MAX_ACTIVE_ACCOUNT_KEYS} active account keys; revoke one first`);
    }
    let login = partner.login;
    if (!login) {
      login = `acct_${randomText(16)}`;
      await setPartnerLogin(trx, partnerId, login);
    }
    const id = newId('accountCredential');
    const accessKey = `${ACCESS_KEY_PREFIX}_${randomBytes(32).toString('base64url')}`;
    const { createdAt } = await insertCredential(trx, id, partnerId, hashSecret(accessKey));
    await recordAudit(trx, actor, { action: 'account_credential.issue', targetType: 'account_credential', targetId: id, partnerId });
    return { id, login, accessKey, createdAt: createdAt.toISOString() };
  });
}

/** A partner's account login and keys (no secrets). */
export async function showAccountCredentials(db: Db, partnerId: string) {
  const partner = isId('partner', partnerId) ? await partnerLogin(db, partnerId) : null;
  if (!partner) throw notFound(partnerId);
  const rows = await listCredentials(db, partnerId);
  return {
    partnerId,
    login: partner.login,
    keys: rows.map((r) => ({
      id: r.id,
      createdAt: r.created_at.toISOString(),
      revokedAt: r.revoked_at ? r.revoked_at.toISOString() : null,
      lastUsedAt: r.last_used_at ? r.last_used_at.toISOString() : null,
    })),
  };
}

/** Revokes one account key; 404 for an unknown partner or key, or one already revoked. */
export async function revokeAccountCredential(db: Knex, actor: Actor, partnerId: string, credentialId: string) {
  if (!isId('partner', partnerId) || !isId('accountCredential', credentialId)) throw new NotFoundError('account credential', credentialId);
  await db.transaction(async (trx) => {
    if (!(await revokeCredential(trx, partnerId, credentialId))) throw new NotFoundError('account credential', credentialId);
    await recordAudit(trx, actor, { action: 'account_credential.revoke', targetType: 'account_credential', targetId: credentialId, partnerId });
  });
}

/** What `checkAccountCredentials` found. */
export type AccountCredentialCheck =
  | { result: 'unknown_login' }
  | { result: 'invalid_key'; partnerId: string }
  | { result: 'key_revoked'; partnerId: string; credentialId: string }
  | { result: 'valid'; partnerId: string; credentialId: string };

/** True when a login has the form of an account login (`acct_…`), not a product's. */
export const isAccountLogin = (login: string) => /^acct_[0-9a-z]{16}$/.test(login);

/**
 * Checks an account login and access key. Fails closed: only a key of that login whose hash
 * matches, compared in constant time, and that is not revoked, is `valid`.
 */
export async function checkAccountCredentials(db: Db, login: string, accessKey: string): Promise<AccountCredentialCheck> {
  if (!isAccountLogin(login)) return { result: 'unknown_login' };
  const found = await keysForLogin(db, login);
  if (!found) return { result: 'unknown_login' };
  const offered = hashSecret(accessKey);
  const match = found.keys.find((key) => safeEqual(offered, key.secretHash));
  if (!match) return { result: 'invalid_key', partnerId: found.partnerId };
  if (match.revoked) return { result: 'key_revoked', partnerId: found.partnerId, credentialId: match.id };
  await touchCredential(db, match.id);
  return { result: 'valid', partnerId: found.partnerId, credentialId: match.id };
}

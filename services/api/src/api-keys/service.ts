import type { Db, Knex } from '#shared/db/knex';
import { AppError, ConflictError, ForbiddenError, NotFoundError } from '#shared/errors';
import { isId } from '#shared/ids';
import { mapPage, type Page, type PageRequest } from '../http/pagination.ts';
import type { PartnerActor } from '../http/actor.ts';
import type { Principal } from '../http/auth.ts';
import { recordAudit } from '../audit/audit.ts';
import { findUser } from '../users/repository.ts';
import { countActiveUserKeys, insertKey, listUserKeys, revokeUserKey, type ApiKeyRow } from './repository.ts';
import type { ApiKeyView } from './schema.ts';

/**
 * A person's own standing API keys: a signed-in user lists, mints and revokes them, e.g. to give
 * a server of theirs a key that outlives the session. A key authenticates as its partner and
 * user, like the first key every user is made with. Minting needs an e-mail sign-in session:
 * a leaked key must not be able to mint its own successors (revoking it would then not be
 * enough). Listing and revoking take any key of the user.
 */
export const MAX_ACTIVE_KEYS_PER_USER = 20;

type PartnerPrincipal = Extract<Principal, { kind: 'partner' }>;

/** A key row as the API shows it (never its hash). */
export const toApiKey = (row: ApiKeyRow): ApiKeyView => ({
  id: row.id,
  name: row.name,
  createdAt: row.created_at.toISOString(),
  lastUsedAt: row.last_used_at ? row.last_used_at.toISOString() : null,
  revokedAt: row.revoked_at ? row.revoked_at.toISOString() : null,
});

function userOf(principal: PartnerPrincipal): string {
  if (!principal.userId) throw new ForbiddenError('this key is not a user’s; API keys belong to users');
  return principal.userId;
}

/** The caller's own standing keys, newest first (revoked ones too, with `revokedAt`). */
export async function listOwnKeys(db: Db, principal: PartnerPrincipal, page: PageRequest): Promise<Page<ApiKeyView>> {
  const rows = await listUserKeys(db, principal.partnerId, userOf(principal), page);
  return mapPage(rows, toApiKey);
}

/**
 * Mints a named standing key for the signed-in user; the token is in the answer once. 403
 * `session_required` for a call made with an API key; 409 `too_many_keys` past
 * MAX_ACTIVE_KEYS_PER_USER active ones.
 */
export async function mintOwnKey(db: Knex, actor: PartnerActor, name: string): Promise<{ apiKey: ApiKeyView; token: string }> {
  const { principal } = actor;
  const userId = userOf(principal);
  if (principal.keyKind !== 'session') {
    throw new AppError(403, 'session_required', 'minting an API key needs an e-mail sign-in session (POST /v1/auth/sign-in), not an API key', [
      { path: 'headers.authorization', message: `a ${principal.keyKind} key` },
    ]);
  }
  return db.transaction(async (trx) => {
    // One user's mints wait for each other here, so the count below cannot be raced past.
    await findUser(trx, principal.partnerId, userId, { forUpdate: true });
    if ((await countActiveUserKeys(trx, principal.partnerId, userId)) >= MAX_ACTIVE_KEYS_PER_USER) {
      throw new ConflictError('too_many_keys', `a user has at most ${MAX_ACTIVE_KEYS_PER_USER} active API keys; revoke one first`);
    }
    const { row, token } = await insertKey(trx, { partnerId: principal.partnerId, userId, kind: 'user', name });
    await recordAudit(trx, actor, { action: 'api_key.mint', targetType: 'api_key', targetId: row.id, data: { name } });
    return { apiKey: toApiKey(row), token };
  });
}

/** Revokes one of the caller's own active keys at once; 404 for any other (another user's, a session, unknown, revoked). */
export async function revokeOwnKey(db: Knex, actor: PartnerActor, keyId: string): Promise<void> {
  const { principal } = actor;
  const userId = userOf(principal);
  if (!isId('apiKey', keyId)) throw new NotFoundError('API key', keyId);
  await db.transaction(async (trx) => {
    const revoked = await revokeUserKey(trx, principal.partnerId, userId, keyId);
    if (!revoked) throw new NotFoundError('API key', keyId);
    await recordAudit(trx, actor, { action: 'api_key.revoke', targetType: 'api_key', targetId: keyId, data: { name: revoked.name } });
  });
}

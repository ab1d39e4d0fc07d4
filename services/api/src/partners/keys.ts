import type { Db } from '#shared/db/knex';
import { mintToken } from '#shared/tokens';
import { USER_KEY_ID_PREFIX, USER_KEY_PREFIX } from '../http/auth.ts';

/** Issues a new API key for a partner user; the returned token is shown once and never stored. */
export async function issueUserKey(db: Db, partnerId: string, userId: string): Promise<{ keyId: string; apiKey: string }> {
  const minted = mintToken(USER_KEY_PREFIX, USER_KEY_ID_PREFIX);
  await db('api_keys').insert({ id: minted.id, partner_id: partnerId, user_id: userId, kind: 'user', secret_hash: minted.hash });
  return { keyId: minted.id, apiKey: minted.token };
}

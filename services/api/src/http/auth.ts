import type { Request } from 'express';
import type { Db } from '#shared/db/knex';
import type { Config } from '#shared/config';
import { ForbiddenError, UnauthorizedError } from '#shared/errors';
import { hashSecret, parseToken, safeEqual } from '#shared/tokens';

/** Who is calling. Partner principals carry the partner every query must be scoped to. */
export type Principal =
  | { kind: 'operator' }
  | { kind: 'hub' }
  | { kind: 'partner'; partnerId: string; userId: string | null; keyId: string; keyKind: string };

export type PrincipalKind = Principal['kind'];

/** The token prefix of partner user API keys (`hhk_…`) and their row-id prefix. */
export const USER_KEY_PREFIX = 'hhk';
export const USER_KEY_ID_PREFIX = 'key';

function bearer(req: Request): string | null {
  const header = req.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

/**
 * Resolves the caller from the Authorization header. Fails closed: anything not positively
 * recognised is 401; a known token of the wrong kind for the route is 403.
 */
export async function authenticate(req: Request, db: Db, config: Config, allowed: readonly PrincipalKind[]): Promise<Principal> {
  const token = bearer(req);
  if (!token) throw new UnauthorizedError();
  const principal = await resolve(token, db, config);
  if (!principal) throw new UnauthorizedError('the bearer token is not valid');
  if (!allowed.includes(principal.kind)) throw new ForbiddenError(`this route is not for ${principal.kind} tokens`);
  return principal;
}

async function resolve(token: string, db: Db, config: Config): Promise<Principal | null> {
  if (safeEqual(token, config.operatorToken)) return { kind: 'operator' };
  if (safeEqual(token, config.hubToken)) return { kind: 'hub' };
  const parsed = parseToken(USER_KEY_PREFIX, USER_KEY_ID_PREFIX, token);
  if (!parsed) return null;
  const row = await db('api_keys')
    .where({ id: parsed.id })
    .whereNull('revoked_at')
    .where((q) => q.whereNull('expires_at').orWhere('expires_at', '>', db.fn.now()))
    .first('id', 'partner_id', 'user_id', 'kind', 'secret_hash');
  if (!row || !safeEqual(hashSecret(parsed.secret), row.secret_hash)) return null;
  return { kind: 'partner', partnerId: row.partner_id, userId: row.user_id, keyId: row.id, keyKind: row.kind };
}

import type { Request } from 'express';
import type { Db } from '#shared/db/knex';
import type { Config } from '#shared/config';
import { ForbiddenError, UnauthorizedError } from '#shared/errors';
import { hashSecret, safeEqual } from '#shared/tokens';
import { findLiveKey, lastUsedIsStale, touchKey } from '../api-keys/repository.ts';
import { clientAddress } from './client-address.ts';
import type { RateLimits } from './rate-limits.ts';

/** Who is calling. Partner principals carry the partner every query must be scoped to. */
export type Principal =
  | { kind: 'operator' }
  | { kind: 'hub' }
  | { kind: 'partner'; partnerId: string; userId: string | null; keyId: string; keyKind: string };

export type PrincipalKind = Principal['kind'];

/** What routes need to authenticate: the database (partner keys), the configured tokens, and the limiter of wrong ones. */
export interface AuthDeps {
  db: Db;
  config: Config;
  limits: RateLimits;
}

/** The rate-limit bucket of bearer tokens (and board logins) that match nothing, per client address. */
export const BAD_TOKEN_BUCKET = 'bad-token';

function bearer(req: Request): string | null {
  const header = req.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

/**
 * Counts a wrong token (or board login) from the caller's address; past the rule it throws
 * RateLimitedError (429 with Retry-After). Only failures count: a right token is never refused,
 * so a scanner behind the same address as the HUB cannot lock the HUB out. The limit slows
 * guessing down and keeps it out of the logs; what makes guessing hopeless is the tokens'
 * length (at least 32 characters in production, see shared/config.ts). Fails open with the
 * limiter (see shared/rate-limit.ts).
 */
export async function countBadToken(req: Request, deps: Pick<AuthDeps, 'limits' | 'config'>): Promise<void> {
  await deps.limits.enforce(BAD_TOKEN_BUCKET, clientAddress(req), deps.config.rateLimits.badTokensPerClient, req.res);
}

/**
 * Resolves the caller from the Authorization header. Fails closed: anything not positively
 * recognised is 401 (429 once the caller's address has sent too many); a known token of the
 * wrong kind for the route is 403.
 */
export async function authenticate(req: Request, deps: AuthDeps, allowed: readonly PrincipalKind[]): Promise<Principal> {
  const token = bearer(req);
  if (!token) throw new UnauthorizedError();
  const principal = await resolve(token, deps.db, deps.config);
  if (!principal) {
    await countBadToken(req, deps);
    throw new UnauthorizedError('the bearer token is not valid');
  }
  if (!allowed.includes(principal.kind)) throw new ForbiddenError(`this route is not for ${principal.kind} tokens`);
  return principal;
}

async function resolve(token: string, db: Db, config: Config): Promise<Principal | null> {
  // Both comparisons always run, each in constant time, so timing tells neither token apart.
  const operator = safeEqual(token, config.operatorToken);
  const hub = safeEqual(token, config.hubToken);
  if (operator) return { kind: 'operator' };
  if (hub) return { kind: 'hub' };
  const found = await findLiveKey(db, token);
  if (!found || !safeEqual(hashSecret(found.secret), found.row.secret_hash)) return null;
  const { row } = found;
  // Revocation is read on every request (no cache), so a revoked key stops at once; the
  // last-used time is written at most once a minute per key.
  if (lastUsedIsStale(row)) await touchKey(db, row.id);
  return { kind: 'partner', partnerId: row.partner_id, userId: row.user_id, keyId: row.id, keyKind: row.kind };
}

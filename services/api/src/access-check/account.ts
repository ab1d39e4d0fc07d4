import type { Db } from '#shared/db/knex';
import { checkAccountCredentials } from '../account-credentials/service.ts';
import { findFunction } from '../functions/repository.ts';
import { installationExists } from '../installations/repository.ts';
import { hasLegacyGrant } from '../legacy-grants/repository.ts';
import type { AccessCheckInput, AccessDecisionView, AccessReasonCode } from './schema.ts';

/** Told to every caller using account-level credentials (once they are recognised). */
export const ACCOUNT_CREDENTIALS_HINT =
  'Account-level credentials are the setup from before products and reach only the partner’s legacy grants; ' +
  'product credentials are preferred: give the product the functions it needs and use its login and access key.';

/** Both paths' second step: the reason code when the installation or the function does not exist, else null. */
export async function missingReference(db: Db, input: AccessCheckInput): Promise<'unknown_installation' | 'unknown_function' | null> {
  const [installation, fn] = await Promise.all([installationExists(db, input.installationId), findFunction(db, input.functionKey)]);
  if (!installation) return 'unknown_installation';
  if (!fn) return 'unknown_function';
  return null;
}

/**
 * The access check for account-level credentials: valid credentials (not revoked) of a partner,
 * an existing installation and function, and a legacy grant of that partner for them. Answers
 * `via: "account"` when allowed, and always carries a hint that product credentials are
 * preferred once the login is recognised. Fails closed, with the product path's reason codes
 * where they mean the same; `no_legacy_grant` where the partner has no grant here.
 */
export async function checkAccountAccess(db: Db, input: AccessCheckInput): Promise<AccessDecisionView> {
  const credentials = await checkAccountCredentials(db, input.login, input.accessKey);
  if (credentials.result === 'unknown_login') return { allowed: false, reason: 'unknown_login', via: null };
  if (credentials.result === 'invalid_key') return { allowed: false, reason: 'invalid_key', via: null, hint: ACCOUNT_CREDENTIALS_HINT };
  const { partnerId } = credentials;
  const deny = (reason: AccessReasonCode): AccessDecisionView => ({ allowed: false, reason, via: null, partnerId, hint: ACCOUNT_CREDENTIALS_HINT });
  if (credentials.result === 'key_revoked') return deny('key_revoked');

  const missing = await missingReference(db, input);
  if (missing) return deny(missing);
  if (!(await hasLegacyGrant(db, partnerId, input.installationId, input.functionKey))) return deny('no_legacy_grant');
  return { allowed: true, reason: 'legacy_grant', via: 'account', partnerId, hint: ACCOUNT_CREDENTIALS_HINT };
}

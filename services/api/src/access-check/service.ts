import type { Db } from '#shared/db/knex';
import { isAvailableTo } from '#shared/availability';
import { hashSecret, parseToken, safeEqual } from '#shared/tokens';
import { PRODUCT_KEY_ID_PREFIX, PRODUCT_KEY_PREFIX } from '../products/service.ts';
import type { ProductRow } from '#shared/db/rows';
import { findActivation } from '../activations/repository.ts';
import { findProductByLogin, findProductCredential, versionGrants } from '../products/repository.ts';
import { hasLegacyGrant } from '../legacy-grants/repository.ts';
import type { AccessCheckInput, AccessDecisionView, AccessReasonCode } from './schema.ts';
import { isAccountLogin } from '../account-credentials/service.ts';
import { checkAccountAccess, missingReference } from './account.ts';

/**
 * May this product call this function for this installation? (product credentials,
 * Activation, Legacy access.)
 *
 * 1. The credentials must be valid: a known login, a key of that login's product whose secret
 *    matches, and not revoked. Without them nothing else is looked at: legacy grants belong to
 *    a partner, and only valid product credentials say which partner is asking.
 * 2. The installation and the function must exist.
 * 3. Via the product: it is active, available to the installation, the installation has it
 *    activated, and the activated version (not necessarily the newest) grants the function.
 * 4. Otherwise via a legacy grant (partner of the product, installation, function), honoured
 *    until an operator removes it.
 * A denial answers the first reason found, in that order, each with a code of its own.
 * Account-level credentials (an `acct_…` login, the setup from before products) take their own
 * path: see ./account.ts.
 *
 * Failure policy: fail closed. Only a positive match allows; a malformed key is `invalid_key`;
 * bad input never reaches here (400), and unknown names are denials, not errors.
 */
export async function checkAccess(db: Db, input: AccessCheckInput): Promise<AccessDecisionView> {
  const deny = (reason: AccessReasonCode, productId?: string): AccessDecisionView => ({
    allowed: false,
    reason,
    via: null,
    ...(productId ? { productId } : {}),
  });

  // Product logins are slugs with hyphens; an account login never looks like one.
  if (isAccountLogin(input.login)) return checkAccountAccess(db, input);

  const product = await findProductByLogin(db, input.login);
  if (!product) return deny('unknown_login');
  const parsed = parseToken(PRODUCT_KEY_PREFIX, PRODUCT_KEY_ID_PREFIX, input.accessKey);
  if (!parsed) return deny('invalid_key');
  const credential = await findProductCredential(db, product.id, parsed.id);
  if (!credential || !safeEqual(hashSecret(parsed.secret), credential.secret_hash)) return deny('invalid_key');
  if (credential.revoked_at) return deny('key_revoked', product.id);

  const missing = await missingReference(db, input);
  if (missing) return deny(missing, product.id);

  const viaProduct = await productReason(db, product, input.installationId, input.functionKey);
  if (viaProduct === 'granted') return { allowed: true, reason: 'granted', via: 'product', productId: product.id };

  if (await hasLegacyGrant(db, product.partner_id, input.installationId, input.functionKey)) {
    return { allowed: true, reason: 'legacy_grant', via: 'legacy', productId: product.id };
  }
  return deny(viaProduct, product.id);
}

/** 'granted', or why the product itself does not grant the function here. */
async function productReason(db: Db, product: ProductRow, installationId: string, functionKey: string): Promise<AccessReasonCode> {
  if (product.status !== 'active') return 'product_inactive';
  if (!isAvailableTo(product, installationId)) return 'not_available';
  const activation = await findActivation(db, installationId, product.id);
  if (!activation) return 'not_activated';
  return (await versionGrants(db, product.id, activation.version, functionKey)) ? 'granted' : 'function_not_granted';
}

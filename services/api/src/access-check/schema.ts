import { z } from 'zod';
import { InstallationId } from '../installations/schema.ts';

/** `POST /v1/hub/access-check`: product (or account-level) credentials, an installation and a function. */
export const AccessCheckBody = z.object({
  login: z.string().min(1).max(200),
  accessKey: z.string().min(1).max(500),
  installationId: InstallationId,
  functionKey: z.string().min(1).max(200),
}).meta({ id: 'AccessCheckRequest' });
export type AccessCheckInput = z.infer<typeof AccessCheckBody>;

/** Why access is allowed or denied; each denial has a code of its own. */
export const AccessReason = z.enum([
  'granted',
  'legacy_grant',
  'unknown_login',
  'invalid_key',
  'key_revoked',
  'unknown_installation',
  'unknown_function',
  'product_inactive',
  'not_available',
  'not_activated',
  'function_not_granted',
  // Account-level credentials reach only the partner's legacy grants, and this one has none here.
  'no_legacy_grant',
]);
export type AccessReasonCode = z.infer<typeof AccessReason>;

export const AccessDecision = z.object({
  allowed: z.boolean(),
  reason: AccessReason,
  /** `account`: allowed by a legacy grant, asked with account-level credentials (the old setup). */
  via: z.enum(['product', 'legacy', 'account']).nullable(),
  /** The product the login belongs to, once the credentials are valid. */
  productId: z.string().optional(),
  /** With account-level credentials: the partner they belong to, once they are valid. */
  partnerId: z.string().optional(),
  /** With account-level credentials: a nudge towards product credentials. */
  hint: z.string().optional(),
}).meta({ id: 'AccessDecision' });
export type AccessDecisionView = z.infer<typeof AccessDecision>;

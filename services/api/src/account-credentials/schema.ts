import { z } from 'zod';

export const PartnerParams = z.object({ partnerId: z.string() });
export const CredentialParams = z.object({ partnerId: z.string(), credentialId: z.string() });

export const IssuedAccountCredential = z.object({
  id: z.string(),
  /** The partner's account login; the same for each of its keys. */
  login: z.string(),
  /** Shown once; only a hash is kept. */
  accessKey: z.string(),
  createdAt: z.string(),
}).meta({ id: 'IssuedAccountCredential' });

export const AccountKey = z.object({
  id: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
}).meta({ id: 'AccountKey' });

export const AccountCredentials = z.object({
  partnerId: z.string(),
  login: z.string().nullable(),
  keys: z.array(AccountKey),
}).meta({ id: 'AccountCredentials' });

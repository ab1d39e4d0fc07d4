import { z } from 'zod';
import { Email } from '../partners/schema.ts';
import { CODE_DIGITS } from './code.ts';

export const SignInBody = z.object({ email: Email }).meta({ id: 'SignInRequest' });

/** The same answer whether or not the address is registered. */
export const SignInAccepted = z.object({ status: z.literal('accepted'), message: z.string() }).meta({ id: 'SignInAccepted' });

export const VerifyBody = z.object({
  email: Email,
  code: z
    .string()
    // People paste codes with spaces in them.
    .transform((value) => value.replace(/\s+/g, ''))
    .pipe(z.string().regex(new RegExp(`^\\d{${CODE_DIGITS}}$`), `must be the ${CODE_DIGITS} digits from the e-mail`)),
}).meta({ id: 'VerifySignInRequest' });

export const SessionIssued = z.object({
  /** A bearer token that works like an API key until `expiresAt` or sign-out. */
  token: z.string(),
  expiresAt: z.string(),
}).meta({ id: 'SessionIssued' });

export const CurrentCredential = z.object({
  partnerId: z.string(),
  userId: z.string().nullable(),
  keyId: z.string(),
  /** `session` for a token from e-mail sign-in, `user` for an API key. */
  keyKind: z.string(),
  expiresAt: z.string().nullable(),
}).meta({ id: 'CurrentCredential' });

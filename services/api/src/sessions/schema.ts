import { z } from 'zod';
import { Email } from '../partners/schema.ts';
import { CODE_DIGITS } from './code.ts';

export const SignInBody = z.object({ email: Email }).meta({ id: 'SignInRequest' });

/** The same answer whether or not the address is registered. */
export const SignInAccepted = z.object({ status: z.literal('accepted'), message: z.string() }).meta({ id: 'SignInAccepted' });

export const VerifyBody = z.object({
  email: Email,
  /** Which partner to sign in to, for an address that is a user of several (see `PartnerChoice`). */
  partnerId: z.string().trim().min(1).max(100).optional(),
  code: z
    .string()
    // People paste codes with spaces in them.
    .transform((value) => value.replace(/\s+/g, ''))
    .pipe(z.string().regex(new RegExp(`^\\d{${CODE_DIGITS}}$`), `must be the ${CODE_DIGITS} digits from the e-mail`)),
}).meta({ id: 'VerifySignInRequest' });

export const SessionIssued = z.object({
  status: z.literal('signed_in'),
  /** A bearer token that works like an API key until `expiresAt` or sign-out. */
  token: z.string(),
  expiresAt: z.string(),
  partnerId: z.string(),
  userId: z.string(),
}).meta({ id: 'SessionIssued' });
export type SessionIssued = z.infer<typeof SessionIssued>;

/** The right code for an address that is a user of several partners, sent without `partnerId`: choose one. */
export const PartnerChoice = z.object({
  status: z.literal('choose_partner'),
  message: z.string(),
  partners: z.array(z.object({ id: z.string(), name: z.string() })),
}).meta({ id: 'PartnerChoice' });
export type PartnerChoice = z.infer<typeof PartnerChoice>;

/** What a right code gets: a session, or the partners to choose from. */
export const VerifyAnswer = z.discriminatedUnion('status', [SessionIssued, PartnerChoice]).meta({ id: 'VerifySignInResult' });

export const CurrentCredential = z.object({
  partnerId: z.string(),
  userId: z.string().nullable(),
  keyId: z.string(),
  /** `session` for a token from e-mail sign-in, `user` for an API key. */
  keyKind: z.string(),
  expiresAt: z.string().nullable(),
}).meta({ id: 'CurrentCredential' });

import { z } from 'zod';

/** An e-mail address, trimmed and lower-cased: addresses are compared case-insensitively. */
export const Email = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email({ message: 'must be an e-mail address' }))
  .transform((value) => value.toLowerCase());

export const CreatePartnerBody = z.object({
  name: z.string().trim().min(1).max(200),
  contactEmail: Email,
}).meta({ id: 'CreatePartnerRequest' });
export type CreatePartnerInput = z.infer<typeof CreatePartnerBody>;

export const Partner = z.object({ id: z.string(), name: z.string(), contactEmail: z.string(), createdAt: z.string() }).meta({ id: 'Partner' });
export const User = z.object({
  id: z.string(),
  partnerId: z.string(),
  email: z.string(),
  isContact: z.boolean(),
  createdAt: z.string(),
}).meta({ id: 'User' });
export type PartnerView = z.infer<typeof Partner>;
export type UserView = z.infer<typeof User>;

import { z } from 'zod';

/**
 * An InstallationID such as `MSVPAR`: 1–32 letters, digits, `_` or `-`. Stored and compared
 * upper-case (the platform writes them that way), so `msvpar` names `MSVPAR` — use this schema
 * wherever an InstallationID comes in (bodies, paths, events) so every route agrees.
 */
export const InstallationId = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1–32 letters, digits, _ or -')
  .transform((value) => value.toUpperCase());

export const CreateInstallationBody = z.object({
  installationId: InstallationId,
  name: z.string().trim().min(1).max(200),
}).meta({ id: 'CreateInstallationRequest' });
export type CreateInstallationInput = z.infer<typeof CreateInstallationBody>;

export const Installation = z.object({ installationId: z.string(), name: z.string(), createdAt: z.string() }).meta({ id: 'Installation' });
export type InstallationView = z.infer<typeof Installation>;

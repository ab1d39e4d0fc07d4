import { z } from 'zod';
import { InstallationId } from '../installations/schema.ts';
import { FunctionKey } from '../functions/schema.ts';

export const CreateLegacyGrantBody = z.object({ installationId: InstallationId, functionKey: FunctionKey }).meta({ id: 'CreateLegacyGrantRequest' });
export type CreateLegacyGrantInput = z.infer<typeof CreateLegacyGrantBody>;

export const PartnerIdParams = z.object({ partnerId: z.string() });
export const LegacyGrantIdParams = z.object({ grantId: z.string() });

export const LegacyGrant = z.object({
  id: z.string(),
  partnerId: z.string(),
  installationId: z.string(),
  functionKey: z.string(),
  createdAt: z.string(),
  /**
   * The partner's products through which the installation already has this access: active,
   * available to the installation, and activated there at a version granting the function.
   * Non-empty means the grant can be removed without the access check denying anything.
   */
  coveredBy: z.array(z.string()),
}).meta({ id: 'LegacyGrant' });
export type LegacyGrantView = z.infer<typeof LegacyGrant>;

import { z } from 'zod';
import { ProductType } from '../products/schema.ts';

export const InstallationParams = z.object({ installationId: z.string() });
export const InstallationProductParams = z.object({ installationId: z.string(), productId: z.string() });

/** `POST .../upgrade`: optionally the version the administrator saw in the difference, so a newer one activated meanwhile is not granted unseen. */
export const UpgradeBody = z.strictObject({ version: z.number().int().min(1).optional() }).optional().meta({ id: 'UpgradeRequest' });
export type UpgradeInput = z.infer<typeof UpgradeBody>;

export const Activation = z.object({ version: z.number().int(), activatedAt: z.string(), updatedAt: z.string() }).meta({ id: 'Activation' });

/** A product as an installation's administrator sees it. */
export const InstallationProduct = z.object({
  id: z.string(),
  name: z.string(),
  type: ProductType,
  description: z.string(),
  orderUrl: z.string().nullable(),
  partner: z.object({ id: z.string(), name: z.string() }),
  /** The version an activation or upgrade grants now. */
  activeVersion: z.number().int(),
  /** The functions the active version grants. */
  functions: z.array(z.string()),
  /** The installation's activation, or null when it has not activated the product. */
  activation: Activation.nullable(),
  /** The installation is on an older version than the active one. */
  upgradeAvailable: z.boolean(),
}).meta({ id: 'InstallationProduct' });
export type InstallationProductView = z.infer<typeof InstallationProduct>;

/** What an upgrade changes: functions added, removed, and kept with other filters or requireAccess. */
export const UpgradeDiff = z.object({
  productId: z.string(),
  from: z.number().int(),
  to: z.number().int(),
  functionsAdded: z.array(z.string()),
  functionsRemoved: z.array(z.string()),
  functionsChanged: z.array(z.string()),
}).meta({ id: 'UpgradeDiff' });
export type UpgradeDiffView = z.infer<typeof UpgradeDiff>;


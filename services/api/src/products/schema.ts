import { z } from 'zod';
import { InstallationId } from '../installations/schema.ts';

/** The two kinds of product. */
export const ProductType = z.enum(['order_integration', 'rights']);


/**
 * Which installations may see and activate a product: `all`, or `restricted` to a list.
 * The list must be empty for `all` and non-empty for `restricted`.
 */
export const AvailabilityInput = z
  .strictObject({
    mode: z.enum(['all', 'restricted']),
    // Upper-cased like every InstallationID; whether each exists is checked by the service (422).
    installationIds: z.array(InstallationId).max(1000).default([]),
  })
  .superRefine((value, ctx) => {
    if (value.mode === 'restricted' && value.installationIds.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['installationIds'], message: 'list at least one installation when mode is restricted' });
    }
    if (value.mode === 'all' && value.installationIds.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['installationIds'], message: 'must be empty when mode is all' });
    }
  });
export type AvailabilityInputValue = z.infer<typeof AvailabilityInput>;

const Name = z.string().trim().min(1).max(200);
const Description = z.string().trim().max(5000);
const OrderUrl = z.string()
  .trim()
  .max(2000)
  .pipe(z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }));

/** `POST /v1/products`. Unknown fields are refused (400) rather than silently dropped. */
export const CreateProductBody = z.strictObject({
  name: Name,
  type: ProductType,
  description: Description.optional(),
  orderUrl: OrderUrl.optional(),
  availability: AvailabilityInput.optional(),
}).meta({ id: 'CreateProductRequest' });
export type CreateProductInput = z.infer<typeof CreateProductBody>;

/** `PATCH /v1/products/{id}`: any field but functions (those change through versions). */
export const UpdateProductBody = z
  .strictObject({
    name: Name.optional(),
    type: ProductType.optional(),
    description: Description.optional(),
    orderUrl: OrderUrl.nullable().optional(),
    availability: AvailabilityInput.optional(),
  })
  .refine((value) => Object.values(value).some((v) => v !== undefined), { message: 'give at least one field to change' })
  .meta({ id: 'UpdateProductRequest' });
export type UpdateProductInput = z.infer<typeof UpdateProductBody>;

/** Filters of one function in a version: field → allowed values. */
export const Filters = z.record(z.string().min(1).max(100), z.array(z.string().min(1).max(200)).min(1).max(500));

/**
 * `PUT /v1/products/{id}/versions/{n}/functions/{key}`: the function's whole setting in that
 * version (a PUT replaces it: omitted filters mean none, omitted requireAccess means true).
 * The body may be left out altogether: the function with no filters.
 */
export const PutVersionFunctionBody = z
  .strictObject({
    filters: Filters.optional(),
    requireAccess: z.boolean().optional(),
  })
  .optional()
  .meta({ id: 'PutVersionFunctionRequest' });
export type PutVersionFunctionInput = z.infer<typeof PutVersionFunctionBody>;

export const ProductParams = z.object({ productId: z.string() });
export const CredentialParams = z.object({ productId: z.string(), keyId: z.string() });
export const VersionParams = z.object({ productId: z.string(), version: z.string() });
export const VersionFunctionParams = z.object({ productId: z.string(), version: z.string(), functionKey: z.string() });

export const Availability = z.object({ mode: z.enum(['all', 'restricted']), installationIds: z.array(z.string()) }).meta({ id: 'Availability' });

export const VersionFunction = z.object({
  key: z.string(),
  requireAccess: z.boolean(),
  filters: z.record(z.string(), z.array(z.string())),
}).meta({ id: 'VersionFunction' });
export type VersionFunctionView = z.infer<typeof VersionFunction>;

export const VersionStatus = z.enum(['draft', 'active', 'superseded']);

export const Version = z.object({
  number: z.number().int(),
  status: VersionStatus,
  createdAt: z.string(),
  activatedAt: z.string().nullable(),
  /** How many installations are on this version now. */
  activations: z.number().int(),
  functions: z.array(VersionFunction),
}).meta({ id: 'Version' });
export type VersionView = z.infer<typeof Version>;

export const Credential = z.object({ keyId: z.string(), createdAt: z.string(), revokedAt: z.string().nullable() }).meta({ id: 'ProductCredential' });
export type CredentialView = z.infer<typeof Credential>;

export const Product = z.object({
  id: z.string(),
  partnerId: z.string(),
  name: z.string(),
  type: ProductType,
  description: z.string(),
  orderUrl: z.string().nullable(),
  availability: Availability,
  /** draft until a version is activated. */
  status: z.enum(['draft', 'active']),
  activeVersion: z.number().int().nullable(),
  latestVersion: z.number().int(),
  /** The product's credential login; null until the first access key is made. */
  login: z.string().nullable(),
  credentials: z.array(Credential),
  versions: z.array(Version),
  createdAt: z.string(),
  updatedAt: z.string(),
}).meta({ id: 'Product' });
export type ProductView = z.infer<typeof Product>;

/** Advice that does not stop the change (e.g. a generic name without the company's name). */
export const Warning = z.object({ code: z.string(), path: z.string(), message: z.string() }).meta({ id: 'Warning' });
export type WarningView = z.infer<typeof Warning>;

export const CreatedProduct = Product.extend({ version: z.number().int(), warnings: z.array(Warning) }).meta({ id: 'CreatedProduct' });
export const UpdatedProduct = Product.extend({ warnings: z.array(Warning) }).meta({ id: 'UpdatedProduct' });

/** Shown once: the key itself is never stored, only its hash. */
export const NewCredential = z.object({ login: z.string(), accessKey: z.string(), keyId: z.string(), createdAt: z.string() }).meta({ id: 'NewProductCredential' });

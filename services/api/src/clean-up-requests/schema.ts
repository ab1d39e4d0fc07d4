import { z } from 'zod';
import { PageQuery, pageOf } from '../http/pagination.ts';

export const CleanUpStatus = z.enum(['open', 'done']);

export const CreateCleanUpRequestBody = z
  .object({
    /** Anything the operator should know. */
    note: z.string().trim().max(2000).default(''),
  })
  .default({ note: '' })
  .meta({ id: 'CleanUpRequestNote' });

/** A grant as it stood when the partner asked: covered by these products. */
export const CoveredGrant = z.object({
  grantId: z.string(),
  installationId: z.string(),
  functionKey: z.string(),
  coveredBy: z.array(z.string()),
}).meta({ id: 'CoveredGrant' });
export type CoveredGrantView = z.infer<typeof CoveredGrant>;

export const CleanUpRequest = z.object({
  id: z.string(),
  partnerId: z.string(),
  /** The user who asked (null for a key that is not a user's). */
  requestedBy: z.string().nullable(),
  note: z.string(),
  grants: z.array(CoveredGrant),
  status: CleanUpStatus,
  createdAt: z.string(),
  resolvedAt: z.string().nullable(),
}).meta({ id: 'CleanUpRequest' });
export type CleanUpRequestView = z.infer<typeof CleanUpRequest>;

export const ListCleanUpRequestsQuery = PageQuery.extend({ status: CleanUpStatus.optional() });
export type ListCleanUpRequestsInput = z.infer<typeof ListCleanUpRequestsQuery>;
export const CleanUpRequestPage = pageOf(CleanUpRequest);

export const CleanUpRequestParams = z.object({ cleanUpRequestId: z.string() });

export const ResolveCleanUpRequestBody = z
  .object({
    /** Also remove the request's grants that a product still covers now (re-checked); default false. */
    removeGrants: z.boolean().default(false),
  })
  .default({ removeGrants: false })
  .meta({ id: 'ResolveCleanUpRequest' });

export const ResolvedCleanUpRequest = z.object({
  request: CleanUpRequest,
  /** The grants removed by this call. */
  removedGrantIds: z.array(z.string()),
  /** The request's grants left in place: no longer covered, or already gone. */
  keptGrantIds: z.array(z.string()),
}).meta({ id: 'ResolvedCleanUpRequest' });

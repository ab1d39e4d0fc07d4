import { z } from 'zod';
import { Email, Partner, User } from '../partners/schema.ts';
import { PageQuery, pageOf } from '../http/pagination.ts';

export const ApplicationStatus = z.enum(['pending', 'approved', 'rejected']);

export const CreateApplicationBody = z.object({
  companyName: z.string().trim().min(1).max(200),
  organisationNumber: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9][A-Za-z0-9 .-]{1,39}$/, 'must be 2–40 letters, digits, spaces, dots or dashes'),
  contactName: z.string().trim().min(1).max(200),
  contactEmail: Email,
  /** What the company wants to build. */
  purpose: z.string().trim().min(1).max(5000),
}).meta({ id: 'CreateApplicationRequest' });
export type CreateApplicationInput = z.infer<typeof CreateApplicationBody>;

export const Application = z.object({
  id: z.string(),
  companyName: z.string(),
  organisationNumber: z.string(),
  contactName: z.string(),
  contactEmail: z.string(),
  purpose: z.string(),
  status: ApplicationStatus,
  decisionReason: z.string().nullable(),
  decidedAt: z.string().nullable(),
  partnerId: z.string().nullable(),
  createdAt: z.string(),
}).meta({ id: 'Application' });
export type ApplicationView = z.infer<typeof Application>;

export const ApplicationReceived = z.object({ id: z.string(), status: z.literal('pending') }).meta({ id: 'ApplicationReceived' });

export const ListApplicationsQuery = PageQuery.extend({ status: ApplicationStatus.optional() });
export type ListApplicationsInput = z.infer<typeof ListApplicationsQuery>;
export const ApplicationPage = pageOf(Application);

export const ApplicationParams = z.object({ applicationId: z.string() });

export const RejectApplicationBody = z.object({ reason: z.string().trim().min(1).max(2000) }).meta({ id: 'RejectApplicationRequest' });

/**
 * Approving answers with the new partner and contact person but no API key: the applicant signs
 * in by e-mail (the approval mail says how), so no key passes through the operator's hands.
 */
export const ApprovedApplication = z.object({ application: Application, partner: Partner, user: User }).meta({ id: 'ApprovedApplication' });

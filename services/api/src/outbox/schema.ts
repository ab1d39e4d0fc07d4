import { z } from 'zod';
import { PageQuery, pageOf } from '../http/pagination.ts';

export const MailStatus = z.enum(['pending', 'sent', 'outbox', 'failed']);

export const ListOutboxQuery = PageQuery.extend({
  status: MailStatus.optional(),
  to: z.string().trim().toLowerCase().max(254).optional(),
});
export type ListOutboxInput = z.infer<typeof ListOutboxQuery>;

export const Mail = z.object({
  id: z.string(),
  kind: z.string(),
  to: z.string(),
  subject: z.string(),
  /** Null for a sensitive mail (a sign-in code) once handed to the SMTP server, and always in production. */
  text: z.string().nullable(),
  status: MailStatus,
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  createdAt: z.string(),
  deliveredAt: z.string().nullable(),
}).meta({ id: 'Mail' });
export type MailView = z.infer<typeof Mail>;

export const MailPage = pageOf(Mail);

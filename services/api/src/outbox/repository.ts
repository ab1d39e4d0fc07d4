import type { Config } from '#shared/config';
import type { Db } from '#shared/db/knex';
import type { MailRow } from '#shared/mail/outbox';
import { paginate, type Page, mapPage } from '../http/pagination.ts';
import type { ListOutboxInput, MailView } from './schema.ts';

// In production a sensitive body (a sign-in code) is for its addressee only, even while it waits
// for the SMTP server; in `test` the outbox is how a developer reads it.
const toMail = (row: MailRow, env: Config['env']): MailView => ({
  id: row.id,
  kind: row.kind,
  to: row.to_address,
  subject: row.subject,
  text: row.sensitive && env === 'production' ? null : row.text_body,
  status: row.status,
  attempts: row.attempts,
  lastError: row.last_error,
  createdAt: row.created_at.toISOString(),
  deliveredAt: row.delivered_at ? row.delivered_at.toISOString() : null,
});

/** Outgoing mail, newest first, optionally by status and recipient; sensitive bodies withheld in production. */
export async function listMail(db: Db, input: ListOutboxInput, env: Config['env']): Promise<Page<MailView>> {
  const query = db('mail_outbox').select('mail_outbox.*');
  if (input.status) query.where({ status: input.status });
  if (input.to) query.where({ to_address: input.to });
  const page = await paginate<MailRow>(db, query, input, { keys: ['created_at', 'id'], order: 'desc' });
  return mapPage(page, (row) => toMail(row, env));
}

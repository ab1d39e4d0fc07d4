import type { Db } from '#shared/db/knex';
import type { ApplicationRow } from '#shared/db/rows';
import { newId } from '#shared/ids';
import { paginate, type Page, mapPage } from '../http/pagination.ts';
import type { ApplicationView, CreateApplicationInput, ListApplicationsInput } from './schema.ts';

const toApplication = (row: ApplicationRow): ApplicationView => ({
  id: row.id,
  companyName: row.company_name,
  organisationNumber: row.organisation_number,
  contactName: row.contact_name,
  contactEmail: row.contact_email,
  purpose: row.purpose,
  status: row.status,
  decisionReason: row.decision_reason,
  decidedAt: row.decided_at ? row.decided_at.toISOString() : null,
  partnerId: row.partner_id,
  createdAt: row.created_at.toISOString(),
});

/** Stores a new, pending application. */
export async function insertApplication(db: Db, input: CreateApplicationInput): Promise<ApplicationView> {
  const [row] = await db('applications')
    .insert({
      id: newId('application'),
      company_name: input.companyName,
      organisation_number: input.organisationNumber,
      contact_name: input.contactName,
      contact_email: input.contactEmail,
      purpose: input.purpose,
    })
    .returning('*');
  return toApplication(row as ApplicationRow);
}

/** One application, locked for the rest of the transaction (a decision is made once). */
export async function findApplicationForUpdate(db: Db, id: string): Promise<ApplicationView | null> {
  const row = (await db('applications').where({ id }).forUpdate().first()) as ApplicationRow | undefined;
  return row ? toApplication(row) : null;
}

/** One application. */
export async function findApplication(db: Db, id: string): Promise<ApplicationView | null> {
  const row = (await db('applications').where({ id }).first()) as ApplicationRow | undefined;
  return row ? toApplication(row) : null;
}

/** Records the decision on an application. */
export async function decideApplication(
  db: Db,
  id: string,
  decision: { status: 'approved' | 'rejected'; reason: string | null; partnerId: string | null },
): Promise<ApplicationView> {
  const [row] = await db('applications')
    .where({ id })
    .update({ status: decision.status, decision_reason: decision.reason, partner_id: decision.partnerId, decided_at: db.fn.now() })
    .returning('*');
  return toApplication(row as ApplicationRow);
}

/** Applications, newest first, optionally by status. */
export async function listApplications(db: Db, input: ListApplicationsInput): Promise<Page<ApplicationView>> {
  const query = db('applications').select('applications.*');
  if (input.status) query.where({ status: input.status });
  const page = await paginate<ApplicationRow>(db, query, input, { keys: ['created_at', 'id'], order: 'desc' });
  return mapPage(page, toApplication);
}

import { isUniqueViolation, type Db } from '#shared/db/knex';
import { paginate, type Page, type PageRequest, mapPage } from '../http/pagination.ts';
import type { PartnerView } from './schema.ts';

import type { PartnerRow } from '#shared/db/rows';

/** A partner row as the API shows it. */
export const toPartner = (row: Pick<PartnerRow, 'id' | 'name' | 'contact_email' | 'created_at'>): PartnerView => ({
  id: row.id,
  name: row.name,
  contactEmail: row.contact_email,
  createdAt: row.created_at.toISOString(),
});

/** One page of partners, oldest first. */
export async function listPartners(db: Db, page: PageRequest): Promise<Page<PartnerView>> {
  const rows = await paginate<PartnerRow>(db, db('partners').select('partners.*'), page, { keys: ['created_at', 'id'] });
  return mapPage(rows, toPartner);
}

/** A partner by id, or null; `forUpdate` locks its row for the rest of the transaction. */
export async function findPartner(db: Db, id: string, options: { forUpdate?: boolean } = {}): Promise<PartnerView | null> {
  const query = db('partners').where({ id }).first();
  const row = (await (options.forUpdate ? query.forUpdate() : query)) as PartnerRow | undefined;
  return row ? toPartner(row) : null;
}

/** Stores a new partner; null when a partner of that name exists (the transaction is then aborted). */
export async function insertPartner(db: Db, partner: { id: string; name: string; contactEmail: string }): Promise<PartnerView | null> {
  try {
    const [row] = (await db('partners').insert({ id: partner.id, name: partner.name, contact_email: partner.contactEmail }).returning('*')) as PartnerRow[];
    return toPartner(row!);
  } catch (err) {
    if (isUniqueViolation(err, 'partners_name_key')) return null;
    throw err;
  }
}

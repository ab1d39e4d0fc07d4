import type { Db } from '#shared/db/knex';
import { paginate, type Page, type PageRequest, mapPage } from '../http/pagination.ts';
import { toPartner } from './service.ts';
import type { PartnerView } from './schema.ts';

import type { PartnerRow } from '#shared/db/rows';

/** One page of partners, oldest first. */
export async function listPartners(db: Db, page: PageRequest): Promise<Page<PartnerView>> {
  const rows = await paginate<PartnerRow>(db, db('partners').select('partners.*'), page, { keys: ['created_at', 'id'] });
  return mapPage(rows, toPartner);
}

/** A partner by id, or null. */
export async function findPartner(db: Db, id: string): Promise<PartnerView | null> {
  const row = (await db('partners').where({ id }).first()) as PartnerRow | undefined;
  return row ? toPartner(row) : null;
}

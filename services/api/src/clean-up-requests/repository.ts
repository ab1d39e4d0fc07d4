import type { Db } from '#shared/db/knex';
import type { CleanUpRequestRow as CleanUpRow } from '#shared/db/rows';
import { paginate, type Page, mapPage } from '../http/pagination.ts';
import type { CleanUpRequestView, CoveredGrantView, ListCleanUpRequestsInput } from './schema.ts';

const toCleanUpRequest = (row: CleanUpRow): CleanUpRequestView => ({
  id: row.id,
  partnerId: row.partner_id,
  requestedBy: row.requested_by,
  note: row.note,
  grants: row.grants,
  status: row.status,
  createdAt: row.created_at.toISOString(),
  resolvedAt: row.resolved_at ? row.resolved_at.toISOString() : null,
});

/** The partner's open request, if any (locked for the rest of the transaction). */
export async function findOpenRequest(db: Db, partnerId: string): Promise<CleanUpRequestView | null> {
  const row = (await db('legacy_clean_up_requests').where({ partner_id: partnerId, status: 'open' }).forUpdate().first()) as CleanUpRow | undefined;
  return row ? toCleanUpRequest(row) : null;
}

/** Stores a new open request. */
export async function insertRequest(
  db: Db,
  input: { id: string; partnerId: string; requestedBy: string | null; note: string; grants: CoveredGrantView[] },
): Promise<CleanUpRequestView> {
  const [row] = await db('legacy_clean_up_requests')
    .insert({ id: input.id, partner_id: input.partnerId, requested_by: input.requestedBy, note: input.note, grants: JSON.stringify(input.grants) })
    .returning('*');
  return toCleanUpRequest(row as CleanUpRow);
}

/** One request, locked for the rest of the transaction; null if none. */
export async function findRequestForUpdate(db: Db, id: string): Promise<CleanUpRequestView | null> {
  const row = (await db('legacy_clean_up_requests').where({ id }).forUpdate().first()) as CleanUpRow | undefined;
  return row ? toCleanUpRequest(row) : null;
}

/** Marks a request done. */
export async function markDone(db: Db, id: string): Promise<CleanUpRequestView> {
  const [row] = await db('legacy_clean_up_requests').where({ id }).update({ status: 'done', resolved_at: db.fn.now() }).returning('*');
  return toCleanUpRequest(row as CleanUpRow);
}

/** Requests, newest first, optionally by status. */
export async function listRequests(db: Db, input: ListCleanUpRequestsInput): Promise<Page<CleanUpRequestView>> {
  const query = db('legacy_clean_up_requests').select('legacy_clean_up_requests.*');
  if (input.status) query.where({ status: input.status });
  const page = await paginate<CleanUpRow>(db, query, input, { keys: ['created_at', 'id'], order: 'desc' });
  return mapPage(page, toCleanUpRequest);
}

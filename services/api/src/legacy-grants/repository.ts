import type { Db } from '#shared/db/knex';
import { paginate, type Page, type PageRequest, withRows } from '../http/pagination.ts';
import type { CreateLegacyGrantInput, LegacyGrantView } from './schema.ts';

import type { LegacyGrantRow } from '#shared/db/rows';

const toLegacyGrant = (row: LegacyGrantRow, coveredBy: string[]): LegacyGrantView => ({
  id: row.id,
  partnerId: row.partner_id,
  installationId: row.installation_id,
  functionKey: row.function_key,
  createdAt: row.created_at.toISOString(),
  coveredBy,
});

/**
 * For each grant, the products covering it, computed the way the access check decides:
 * the grant's partner's product is active and available to the installation, and the installation
 * has activated it at a version (the activation's, which may trail products.active_version until
 * the installation upgrades) that grants the function. Reads the portal tables directly.
 */
async function coverage(db: Db, grantIds: string[]): Promise<Map<string, string[]>> {
  const covered = new Map<string, string[]>(grantIds.map((id) => [id, []]));
  if (grantIds.length === 0) return covered;
  const rows = (await db('legacy_grants as lg')
    .join('products as p', function () {
      this.on('p.partner_id', 'lg.partner_id').andOnVal('p.status', 'active');
    })
    .join('activations as a', function () {
      this.on('a.product_id', 'p.id').andOn('a.installation_id', 'lg.installation_id');
    })
    .join('version_functions as vf', function () {
      this.on('vf.product_id', 'p.id').andOn('vf.version', 'a.version').andOn('vf.function_key', 'lg.function_key');
    })
    .whereIn('lg.id', grantIds)
    .where((q) => q.where('p.availability_mode', 'all').orWhereRaw('lg.installation_id = any(p.availability_installation_ids)'))
    .orderBy('p.id')
    .select('lg.id as grant_id', 'p.id as product_id')) as { grant_id: string; product_id: string }[];
  for (const row of rows) covered.get(row.grant_id)!.push(row.product_id);
  return covered;
}

async function withCoverage(db: Db, rows: LegacyGrantRow[]): Promise<LegacyGrantView[]> {
  const covered = await coverage(db, rows.map((row) => row.id));
  return rows.map((row) => toLegacyGrant(row, covered.get(row.id) ?? []));
}

/** Inserts a grant; null when the partner already has it (same installation and function). */
export async function insertLegacyGrant(db: Db, id: string, partnerId: string, input: CreateLegacyGrantInput): Promise<LegacyGrantView | null> {
  const rows = (await db('legacy_grants')
    .insert({ id, partner_id: partnerId, installation_id: input.installationId, function_key: input.functionKey })
    .onConflict(['partner_id', 'installation_id', 'function_key'])
    .ignore()
    .returning('*')) as LegacyGrantRow[];
  return rows[0] ? (await withCoverage(db, rows))[0]! : null;
}

/** Deletes a grant; the deleted row, or null when there was none. */
export async function deleteLegacyGrant(db: Db, id: string): Promise<LegacyGrantRow | null> {
  const rows = (await db('legacy_grants').where({ id }).delete().returning('*')) as LegacyGrantRow[];
  return rows[0] ?? null;
}

/** True when the partner has a legacy grant of the function for the installation. */
export async function hasLegacyGrant(db: Db, partnerId: string, installationId: string, functionKey: string): Promise<boolean> {
  return (await db('legacy_grants').where({ partner_id: partnerId, installation_id: installationId, function_key: functionKey }).first('id')) !== undefined;
}

/** Deletes those of `ids` that are the partner's grants; the ids deleted. */
export async function deleteLegacyGrants(db: Db, partnerId: string, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = (await db('legacy_grants').whereIn('id', ids).where({ partner_id: partnerId }).delete().returning('id')) as { id: string }[];
  return rows.map((row) => row.id);
}

/** One page of a partner's grants, oldest first, each with its coverage. */
export async function listLegacyGrants(db: Db, partnerId: string, page: PageRequest): Promise<Page<LegacyGrantView>> {
  const query = db('legacy_grants').select('legacy_grants.*').where({ partner_id: partnerId });
  const rows = await paginate<LegacyGrantRow>(db, query, page, { keys: ['created_at', 'id'] });
  return withRows(rows, await withCoverage(db, rows.data));
}

/** The partner's grants that a product covers now, oldest first, each with its covering products (for clean-up requests). */
export async function coveredLegacyGrants(db: Db, partnerId: string): Promise<LegacyGrantView[]> {
  const rows = (await db('legacy_grants').where({ partner_id: partnerId }).orderBy([{ column: 'created_at' }, { column: 'id' }])) as LegacyGrantRow[];
  return (await withCoverage(db, rows)).filter((grant) => grant.coveredBy.length > 0);
}

import type { Db, Knex } from '#shared/db/knex';
import type { ActivationRow } from '#shared/db/rows';
import { whereAvailableTo } from '#shared/availability';
import { paginate, type Page, type PageRequest } from '../http/pagination.ts';
import type { InstallationProductView } from './schema.ts';

/** A product row joined with its partner's name and one installation's activation. */
export interface InstallationProductRow {
  id: string;
  name: string;
  type: 'order_integration' | 'rights';
  description: string;
  order_url: string | null;
  partner_id: string;
  partner_name: string;
  active_version: number;
  act_version: number | null;
  act_activated_at: Date | null;
  act_updated_at: Date | null;
}

/** The installation's activation of the product; null when it has none. */
export async function findActivation(db: Db, installationId: string, productId: string, forUpdate = false): Promise<ActivationRow | null> {
  const q = db('activations').where({ installation_id: installationId, product_id: productId }).first();
  if (forUpdate) q.forUpdate();
  return ((await q) as ActivationRow | undefined) ?? null;
}

/**
 * The products available to an installation, each with that installation's activation, as a
 * derived table `x` ordered by (upgrade_rank, sort_name, id): upgradable ones (rank 0) first.
 */
function availableProductsQuery(db: Db, installationId: string): Knex.QueryBuilder {
  const inner = db('products as p')
    .join('partners as pt', 'pt.id', 'p.partner_id')
    .leftJoin('activations as a', (on) => on.on('a.product_id', '=', 'p.id').andOnVal('a.installation_id', '=', installationId))
    .select(
      'p.id',
      'p.name',
      'p.type',
      'p.description',
      'p.order_url',
      'p.partner_id',
      'pt.name as partner_name',
      'p.active_version',
      'a.version as act_version',
      'a.activated_at as act_activated_at',
      'a.updated_at as act_updated_at',
      db.raw('case when a.version < p.active_version then 0 else 1 end as upgrade_rank'),
      db.raw('lower(p.name) as sort_name'),
    );
  whereAvailableTo(inner, installationId, 'p');
  return db.from(inner.as('x')).select('x.*');
}

/** A page of the products available to an installation, upgradable first (see `availableProductsQuery`). */
export async function pageAvailableProducts(db: Db, installationId: string, page: PageRequest): Promise<Page<InstallationProductRow>> {
  return paginate<InstallationProductRow & Record<string, unknown>>(db, availableProductsQuery(db, installationId), page, {
    keys: ['x.upgrade_rank', 'x.sort_name', 'x.id'],
  });
}

/** Stores an installation's activation of a product at `version`. */
export async function insertActivation(db: Db, installationId: string, productId: string, version: number): Promise<void> {
  await db('activations').insert({ installation_id: installationId, product_id: productId, version });
}

/** Moves an installation's activation of a product to `version`. */
export async function setActivationVersion(db: Db, installationId: string, productId: string, version: number): Promise<void> {
  await db('activations').where({ installation_id: installationId, product_id: productId }).update({ version, updated_at: db.fn.now() });
}

/** Deletes an installation's activation of a product; the version it was on, or null when there was none. */
export async function deleteActivation(db: Db, installationId: string, productId: string): Promise<number | null> {
  const rows = (await db('activations').where({ installation_id: installationId, product_id: productId }).delete().returning('version')) as { version: number }[];
  return rows[0]?.version ?? null;
}

/** One product as the installation sees it, if available to it; null otherwise. */
export async function findAvailableProduct(db: Db, installationId: string, productId: string): Promise<InstallationProductRow | null> {
  const row = (await availableProductsQuery(db, installationId).where('x.id', productId).first()) as InstallationProductRow | undefined;
  return row ?? null;
}

/** Function keys granted by each (product, version), keyed `productId#version`. */
export async function functionKeysOf(db: Db, pairs: readonly [string, number][]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (pairs.length === 0) return out;
  const rows = (await db('version_functions')
    .whereIn(['product_id', 'version'], pairs as [string, number][])
    .orderBy('function_key')
    .select('product_id', 'version', 'function_key')) as { product_id: string; version: number; function_key: string }[];
  for (const r of rows) {
    const key = `${r.product_id}#${r.version}`;
    out.set(key, [...(out.get(key) ?? []), r.function_key]);
  }
  return out;
}

/** Rows of `availableProductsQuery` as the API shows them (one query for their functions). */
export async function toInstallationProducts(db: Db, rows: InstallationProductRow[]): Promise<InstallationProductView[]> {
  const functions = await functionKeysOf(
    db,
    rows.map((r) => [r.id, r.active_version]),
  );
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    type: r.type,
    description: r.description,
    orderUrl: r.order_url,
    partner: { id: r.partner_id, name: r.partner_name },
    activeVersion: r.active_version,
    functions: functions.get(`${r.id}#${r.active_version}`) ?? [],
    activation:
      r.act_version !== null && r.act_activated_at && r.act_updated_at
        ? { version: r.act_version, activatedAt: r.act_activated_at.toISOString(), updatedAt: r.act_updated_at.toISOString() }
        : null,
    upgradeAvailable: r.act_version !== null && r.act_version < r.active_version,
  }));
}

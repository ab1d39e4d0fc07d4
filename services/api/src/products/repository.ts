import { isUniqueViolation, type Db } from '#shared/db/knex';
import type { ProductCredentialRow, ProductRow, VersionFunctionRow, VersionRow } from '#shared/db/rows';
import { paginate, type Page, type PageRequest } from '../http/pagination.ts';
import type { CredentialView, ProductView, VersionFunctionView, VersionView } from './schema.ts';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** One of the partner's products; null when it does not exist or is another partner's. */
export async function findPartnerProduct(db: Db, partnerId: string, productId: string, lock?: 'update' | 'share'): Promise<ProductRow | null> {
  const q = db<ProductRow>('products').where({ id: productId, partner_id: partnerId }).first();
  if (lock === 'update') q.forUpdate();
  if (lock === 'share') q.forShare();
  return ((await q) as ProductRow | undefined) ?? null;
}

/** A product by id, whoever owns it; null when unknown. */
export async function findProduct(db: Db, productId: string, lock?: 'update' | 'share'): Promise<ProductRow | null> {
  const q = db<ProductRow>('products').where({ id: productId }).first();
  if (lock === 'update') q.forUpdate();
  if (lock === 'share') q.forShare();
  return ((await q) as ProductRow | undefined) ?? null;
}

/** A page of the partner's products, oldest first. */
export async function pagePartnerProducts(db: Db, partnerId: string, page: PageRequest): Promise<Page<ProductRow>> {
  const query = db('products').select('products.*').where('products.partner_id', partnerId);
  return paginate<ProductRow & Record<string, unknown>>(db, query, page, { keys: ['products.created_at', 'products.id'] });
}

/** The columns a product is made or changed with (`products` in shared/db/rows.ts). */
export type ProductFields = Pick<ProductRow, 'name' | 'type' | 'description' | 'order_url' | 'availability_mode' | 'availability_installation_ids'>;

// A partner's product names are unique, ignoring case (migration 0001).
const NAME_TAKEN = 'products_partner_name_key';

/** Stores a new product with its draft version 1; null when the partner has a product of that name (the transaction is then aborted). */
export async function insertProduct(db: Db, id: string, partnerId: string, fields: ProductFields): Promise<ProductRow | null> {
  let row: ProductRow | undefined;
  try {
    [row] = (await db('products').insert({ id, partner_id: partnerId, ...fields }).returning('*')) as ProductRow[];
  } catch (err) {
    if (isUniqueViolation(err, NAME_TAKEN)) return null;
    throw err;
  }
  await insertDraftVersion(db, id, 1);
  return row!;
}

/** Changes a product's fields (and its `updated_at`); null when the new name is taken by another of the partner's products. */
export async function updateProductFields(db: Db, id: string, changes: Partial<ProductFields>): Promise<ProductRow | null> {
  try {
    const [row] = (await db('products').where({ id }).update({ ...changes, updated_at: db.fn.now() }).returning('*')) as ProductRow[];
    return row!;
  } catch (err) {
    if (isUniqueViolation(err, NAME_TAKEN)) return null;
    throw err;
  }
}

/** Gives a product its credentials' login. */
export async function setProductLogin(db: Db, id: string, login: string): Promise<void> {
  await db('products').where({ id }).update({ login, updated_at: db.fn.now() });
}

/** Marks a product changed (its version's functions changed). */
export async function touchProduct(db: Db, id: string): Promise<void> {
  await db('products').where({ id }).update({ updated_at: db.fn.now() });
}

/** Stores a product access key's hash. */
export async function insertProductCredential(db: Db, id: string, productId: string, secretHash: string): Promise<{ createdAt: Date }> {
  const [row] = (await db('product_credentials').insert({ id, product_id: productId, secret_hash: secretHash }).returning(['created_at'])) as { created_at: Date }[];
  return { createdAt: row!.created_at };
}

/** One of the product's access keys; null when the product has no such key. */
export async function findProductCredential(db: Db, productId: string, keyId: string): Promise<ProductCredentialRow | null> {
  const row = (await db('product_credentials').where({ id: keyId, product_id: productId }).first()) as ProductCredentialRow | undefined;
  return row ?? null;
}

/** The product whose credentials use this login; null when none does. */
export async function findProductByLogin(db: Db, login: string): Promise<ProductRow | null> {
  return ((await db('products').where({ login }).first()) as ProductRow | undefined) ?? null;
}

/** True when the product's version grants the function. */
export async function versionGrants(db: Db, productId: string, version: number, functionKey: string): Promise<boolean> {
  return (await db('version_functions').where({ product_id: productId, version, function_key: functionKey }).first('function_key')) !== undefined;
}

/** Revokes a product access key now. */
export async function revokeProductCredential(db: Db, keyId: string): Promise<void> {
  await db('product_credentials').where({ id: keyId }).update({ revoked_at: db.fn.now() });
}

/** Adds a draft version to a product. */
export async function insertDraftVersion(db: Db, productId: string, number: number): Promise<void> {
  await db('product_versions').insert({ product_id: productId, number, status: 'draft' });
}

/** Copies what one version of a product grants into another. */
export async function copyVersionFunctions(db: Db, productId: string, from: number, to: number): Promise<void> {
  await db.raw(
    `insert into version_functions (product_id, version, function_key, require_access, filters)
     select product_id, ?, function_key, require_access, filters from version_functions where product_id = ? and version = ?`,
    [to, productId, from],
  );
}

/** Puts a function into a version, or replaces its setting there. */
export async function upsertVersionFunction(
  db: Db,
  row: Pick<VersionFunctionRow, 'product_id' | 'version' | 'function_key' | 'require_access'> & { filters: Record<string, string[]> },
): Promise<void> {
  await db('version_functions')
    .insert({ ...row, filters: JSON.stringify(row.filters) })
    .onConflict(['product_id', 'version', 'function_key'])
    .merge(['require_access', 'filters']);
}

/** Takes a function out of a version. */
export async function deleteVersionFunction(db: Db, productId: string, version: number, functionKey: string): Promise<void> {
  await db('version_functions').where({ product_id: productId, version, function_key: functionKey }).delete();
}

/** Makes `number` the product's active version: the active one superseded, the product active. */
export async function markVersionActive(db: Db, productId: string, number: number): Promise<void> {
  await db('product_versions').where({ product_id: productId, status: 'active' }).update({ status: 'superseded' });
  await db('product_versions').where({ product_id: productId, number }).update({ status: 'active', activated_at: db.fn.now() });
  await db('products').where({ id: productId }).update({ status: 'active', active_version: number, updated_at: db.fn.now() });
}

/** Which of `ids` are known installations. */
export async function existingInstallations(db: Db, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = (await db('installations').whereIn('id', ids).select('id')) as { id: string }[];
  return new Set(rows.map((r) => r.id));
}

/** A product's version; null when it has no such version. */
export async function findVersion(db: Db, productId: string, number: number): Promise<VersionRow | null> {
  const row = (await db('product_versions').where({ product_id: productId, number }).first()) as VersionRow | undefined;
  return row ?? null;
}

/** The product's highest version number (every product has version 1 from its creation). */
export async function latestVersionNumber(db: Db, productId: string): Promise<number> {
  const row = (await db('product_versions').where({ product_id: productId }).max({ n: 'number' }).first()) as { n: number | null } | undefined;
  return row?.n ?? 0;
}

/** The installations that have the product activated at `version`. */
export async function installationsOnVersion(db: Db, productId: string, version: number): Promise<string[]> {
  const rows = (await db('activations').where({ product_id: productId, version }).orderBy('installation_id').select('installation_id')) as {
    installation_id: string;
  }[];
  return rows.map((r) => r.installation_id);
}

/** The functions a version grants, by key. */
export async function versionFunctions(db: Db, productId: string, version: number): Promise<VersionFunctionRow[]> {
  return (await db('version_functions').where({ product_id: productId, version }).orderBy('function_key')) as VersionFunctionRow[];
}

/** Active (not revoked) credentials of a product. */
export async function activeCredentialCount(db: Db, productId: string): Promise<number> {
  const row = (await db('product_credentials').where({ product_id: productId }).whereNull('revoked_at').count({ n: '*' }).first()) as
    | { n: number }
    | undefined;
  return row?.n ?? 0;
}

const toFunction = (row: VersionFunctionRow): VersionFunctionView => ({
  key: row.function_key,
  requireAccess: row.require_access,
  filters: row.filters ?? {},
});

/** A version row with its functions and activation count, as the API shows it. */
export function toVersion(row: VersionRow, functions: VersionFunctionRow[], activations: number): VersionView {
  return {
    number: row.number,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    activatedAt: iso(row.activated_at),
    activations,
    functions: functions.map(toFunction),
  };
}

const toCredential = (row: ProductCredentialRow): CredentialView => ({
  keyId: row.id,
  createdAt: row.created_at.toISOString(),
  revokedAt: iso(row.revoked_at),
});

/**
 * Product rows as the API shows them, with their versions (and each version's functions and
 * activation count) and credentials: four queries for any number of products.
 */
export async function toProductViews(db: Db, rows: ProductRow[]): Promise<ProductView[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  // One after the other: `db` may be a transaction, whose one connection runs one query at a time.
  const versions = (await db('product_versions').whereIn('product_id', ids).orderBy(['product_id', 'number'])) as VersionRow[];
  const functions = (await db('version_functions').whereIn('product_id', ids).orderBy(['product_id', 'version', 'function_key'])) as VersionFunctionRow[];
  const credentials = (await db('product_credentials').whereIn('product_id', ids).orderBy(['product_id', 'created_at', 'id'])) as ProductCredentialRow[];
  const counts = (await db('activations').whereIn('product_id', ids).groupBy(['product_id', 'version']).select('product_id', 'version').count({ n: '*' })) as {
    product_id: string;
    version: number;
    n: number;
  }[];
  const key = (productId: string, version: number) => `${productId}#${version}`;
  const functionsBy = new Map<string, VersionFunctionRow[]>();
  for (const f of functions) functionsBy.set(key(f.product_id, f.version), [...(functionsBy.get(key(f.product_id, f.version)) ?? []), f]);
  const countBy = new Map(counts.map((c) => [key(c.product_id, c.version), c.n]));
  return rows.map((row) => {
    const own = versions.filter((v) => v.product_id === row.id);
    return {
      id: row.id,
      partnerId: row.partner_id,
      name: row.name,
      type: row.type,
      description: row.description,
      orderUrl: row.order_url,
      availability: { mode: row.availability_mode, installationIds: row.availability_installation_ids },
      status: row.status,
      activeVersion: row.active_version,
      latestVersion: own.reduce((max, v) => Math.max(max, v.number), 0),
      login: row.login,
      credentials: credentials.filter((c) => c.product_id === row.id).map(toCredential),
      versions: own.map((v) => toVersion(v, functionsBy.get(key(row.id, v.number)) ?? [], countBy.get(key(row.id, v.number)) ?? 0)),
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    };
  });
}

/** One version as the API shows it. */
export async function loadVersionView(db: Db, productId: string, number: number): Promise<VersionView | null> {
  const row = await findVersion(db, productId, number);
  if (!row) return null;
  const functions = await versionFunctions(db, productId, number);
  const on = await installationsOnVersion(db, productId, number);
  return toVersion(row, functions, on.length);
}

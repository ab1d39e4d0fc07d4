import type { Config } from '#shared/config';
import type { Db, Knex } from '#shared/db/knex';
import type { ProductRow } from '#shared/db/rows';
import { ConflictError, NotFoundError, UnprocessableError } from '#shared/errors';
import { isId, newId, randomText } from '#shared/ids';
import { mintToken } from '#shared/tokens';
import { recordAudit } from '../audit/audit.ts';
import type { PartnerActor } from '../http/actor.ts';
import { findPartner } from '../partners/repository.ts';
import {
  activeCredentialCount,
  existingInstallations,
  findPartnerProduct,
  findProductCredential,
  insertProduct,
  insertProductCredential,
  pagePartnerProducts,
  revokeProductCredential,
  setProductLogin,
  toProductViews,
  updateProductFields,
  type ProductFields,
} from './repository.ts';
import { nameWarnings } from './naming.ts';
import { type PageRequest, withRows, type Page } from '../http/pagination.ts';
import { PARTNER_TEST_INSTALLATION } from './version-rule.ts';
import type { AvailabilityInputValue, CreateProductInput, ProductView, UpdateProductInput, WarningView } from './schema.ts';

/** What a product service call needs besides its input. */
export interface ProductCallContext {
  db: Knex;
  config: Config;
  actor: PartnerActor;
}

/** Token prefix of product access keys (`hhp_…`), recognisable when leaked; row ids are `crd_…`. */
export const PRODUCT_KEY_PREFIX = 'hhp';
export const PRODUCT_KEY_ID_PREFIX = 'crd';
/** A login has up to two active access keys, so a rotation can overlap. */
export const MAX_ACTIVE_KEYS = 2;

const duplicateName = (name: string) =>
  new ConflictError('product_name_taken', `you already have a product named "${name}"`, [{ path: 'body.name', message: 'already taken (names are compared ignoring case)' }]);

/** Loads the partner's product or answers 404 (malformed ids, unknown ids and other partners' alike). */
export async function requirePartnerProduct(db: Db, partnerId: string, productId: string, lock?: 'update' | 'share'): Promise<ProductRow> {
  const row = isId('product', productId) ? await findPartnerProduct(db, partnerId, productId, lock) : null;
  if (!row) throw new NotFoundError('product', productId);
  return row;
}

/** Checks that every restricted installation exists: 422 naming each unknown one. */
async function checkAvailability(db: Db, availability: AvailabilityInputValue): Promise<{ mode: 'all' | 'restricted'; installationIds: string[] }> {
  const ids = [...new Set(availability.installationIds)];
  const known = await existingInstallations(db, ids);
  const unknown = availability.installationIds.map((id, i) => ({ id, i })).filter(({ id }) => !known.has(id));
  if (unknown.length > 0) {
    throw new UnprocessableError(
      'unknown_installation',
      `no such installation: ${unknown.map(({ id }) => id).join(', ')}`,
      unknown.map(({ id, i }) => ({ path: `body.availability.installationIds.${i}`, message: `no installation ${id}` })),
    );
  }
  return { mode: availability.mode, installationIds: ids };
}

async function partnerName(db: Db, partnerId: string): Promise<string> {
  return (await findPartner(db, partnerId))?.name ?? '';
}

async function viewOf(db: Db, row: ProductRow): Promise<ProductView> {
  const [view] = await toProductViews(db, [row]);
  return view!;
}

/**
 * Creates a product with a draft version 1. Without an explicit availability it is restricted to
 * MSVPAR in the `test` environment and open to all installations in `production`
 * (it is offered to none until a version is activated anyway).
 */
export async function createProduct(
  call: ProductCallContext,
  input: CreateProductInput,
): Promise<ProductView & { version: number; warnings: WarningView[] }> {
  const { db, config, actor } = call;
  const { principal } = actor;
  return db.transaction(async (trx) => {
    const availability = input.availability
      ? await checkAvailability(trx, input.availability)
      : config.env === 'test'
        ? { mode: 'restricted' as const, installationIds: [PARTNER_TEST_INSTALLATION] }
        : { mode: 'all' as const, installationIds: [] };
    const id = newId('product');
    const row = await insertProduct(trx, id, principal.partnerId, {
      name: input.name,
      type: input.type,
      description: input.description ?? '',
      order_url: input.orderUrl ?? null,
      availability_mode: availability.mode,
      availability_installation_ids: availability.installationIds,
    });
    if (!row) throw duplicateName(input.name);
    await recordAudit(trx, actor, {
      action: 'product.created',
      targetType: 'product',
      targetId: id,
      data: { name: input.name, type: input.type, availability },
    });
    const warnings = nameWarnings(input.name, await partnerName(trx, principal.partnerId));
    return { ...(await viewOf(trx, row)), version: 1, warnings };
  });
}

/** One of the partner's products with its versions, credentials and state. */
export async function getProduct(db: Db, partnerId: string, productId: string): Promise<ProductView> {
  return viewOf(db, await requirePartnerProduct(db, partnerId, productId));
}

/** Changes any field but functions; no new version is needed. */
export async function updateProduct(
  call: ProductCallContext,
  productId: string,
  input: UpdateProductInput,
): Promise<ProductView & { warnings: WarningView[] }> {
  const { db, actor } = call;
  const { principal } = actor;
  return db.transaction(async (trx) => {
    const current = await requirePartnerProduct(trx, principal.partnerId, productId, 'update');
    const changes: Partial<ProductFields> = {};
    if (input.name !== undefined) changes.name = input.name;
    if (input.type !== undefined) changes.type = input.type;
    if (input.description !== undefined) changes.description = input.description;
    if (input.orderUrl !== undefined) changes.order_url = input.orderUrl;
    if (input.availability !== undefined) {
      const availability = await checkAvailability(trx, input.availability);
      changes.availability_mode = availability.mode;
      changes.availability_installation_ids = availability.installationIds;
    }
    const row = await updateProductFields(trx, current.id, changes);
    if (!row) throw duplicateName(input.name ?? current.name);
    await recordAudit(trx, actor, {
      action: 'product.updated',
      targetType: 'product',
      targetId: current.id,
      data: { changes: input },
    });
    const warnings = input.name !== undefined ? nameWarnings(input.name, await partnerName(trx, principal.partnerId)) : [];
    return { ...(await viewOf(trx, row)), warnings };
  });
}

/** A login for a product's credentials: readable (from the name) and unique (random tail). */
function makeLogin(productName: string): string {
  const slug = productName
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 30)
    .replace(/-+$/, '');
  return `${slug || 'product'}-${randomText(10)}`;
}

/**
 * Issues an access key for the product (making its login on first use). At most two keys are
 * active at once, so a rotation is: add a second key, move over, revoke the first. The key is
 * returned once; only its hash is stored. The product row is locked so two concurrent requests
 * cannot both be the second key.
 */
export async function createCredential(
  call: ProductCallContext,
  productId: string,
): Promise<{ login: string; accessKey: string; keyId: string; createdAt: string }> {
  const { db, actor } = call;
  const { principal } = actor;
  return db.transaction(async (trx) => {
    const product = await requirePartnerProduct(trx, principal.partnerId, productId, 'update');
    const active = await activeCredentialCount(trx, product.id);
    if (active >= MAX_ACTIVE_KEYS) {
      throw new ConflictError(
        'too_many_active_keys',
        `product ${product.id} already has ${MAX_ACTIVE_KEYS} active access keys; revoke one first`,
      );
    }
    let login = product.login;
    if (!login) {
      login = makeLogin(product.name);
      await setProductLogin(trx, product.id, login);
    }
    const minted = mintToken(PRODUCT_KEY_PREFIX, PRODUCT_KEY_ID_PREFIX);
    const { createdAt } = await insertProductCredential(trx, minted.id, product.id, minted.hash);
    await recordAudit(trx, actor, {
      action: 'product.credential_created',
      targetType: 'product_credential',
      targetId: minted.id,
      data: { productId: product.id, login },
    });
    return { login, accessKey: minted.token, keyId: minted.id, createdAt: createdAt.toISOString() };
  });
}

/** Revokes an access key at once (access checks with it then answer `key_revoked`); revoking twice is a no-op. */
export async function revokeCredential(call: ProductCallContext, productId: string, keyId: string): Promise<void> {
  const { db, actor } = call;
  const { principal } = actor;
  await db.transaction(async (trx) => {
    const product = await requirePartnerProduct(trx, principal.partnerId, productId, 'update');
    const row = isId('credential', keyId) ? await findProductCredential(trx, product.id, keyId) : null;
    if (!row) throw new NotFoundError('access key', keyId);
    if (row.revoked_at) return;
    await revokeProductCredential(trx, row.id);
    await recordAudit(trx, actor, {
      action: 'product.credential_revoked',
      targetType: 'product_credential',
      targetId: row.id,
      data: { productId: product.id },
    });
  });
}

/** The partner's products, oldest first, a page at a time. */
export async function listProducts(db: Db, partnerId: string, page: PageRequest): Promise<Page<ProductView>> {
  const rows = await pagePartnerProducts(db, partnerId, page);
  return withRows(rows, await toProductViews(db, rows.data));
}

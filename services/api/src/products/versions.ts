import { isDeepStrictEqual } from 'node:util';
import type { Queues } from '#shared/queues/connection';
import type { Db } from '#shared/db/knex';
import type { ProductRow, VersionRow } from '#shared/db/rows';
import { ConflictError, NotFoundError, UnprocessableError } from '#shared/errors';
import { recordAudit } from '../audit/audit.ts';
import { findFunction } from '../functions/repository.ts';
import {
  copyVersionFunctions,
  deleteVersionFunction,
  findProduct,
  findVersion,
  insertDraftVersion,
  installationsOnVersion,
  latestVersionNumber,
  loadVersionView,
  markVersionActive,
  toProductViews,
  touchProduct,
  upsertVersionFunction,
  versionFunctions,
} from './repository.ts';
import { requirePartnerProduct, type ProductCallContext } from './service.ts';
import { decideVersionChange, PARTNER_TEST_INSTALLATION } from './version-rule.ts';
import type { ProductView, PutVersionFunctionInput, VersionView } from './schema.ts';

/** A version number from the path; anything but a positive integer names no version (404). */
export function parseVersionNumber(text: string): number {
  if (!/^[1-9]\d{0,8}$/.test(text)) throw new NotFoundError('version', text);
  return Number(text);
}

async function requireVersion(db: Db, product: ProductRow, number: number): Promise<VersionRow> {
  const row = await findVersion(db, product.id, number);
  if (!row) throw new NotFoundError(`version ${number} of product`, product.id);
  return row;
}

async function mustLoadVersion(db: Db, productId: string, number: number): Promise<VersionView> {
  const view = await loadVersionView(db, productId, number);
  if (!view) throw new NotFoundError(`version ${number} of product`, productId);
  return view;
}

/**
 * Refuses (409 `new_version_required`) a change to the version's functions where the version
 * rule says a new version is needed (see version-rule.ts). Run it inside the transaction that
 * makes the change, with the product row locked: installations' activations lock the same row,
 * so none can land on this version between the check and the change.
 */
async function assertVersionChangeable(call: ProductCallContext, db: Db, product: ProductRow, number: number): Promise<void> {
  const latestVersion = await latestVersionNumber(db, product.id);
  const activatedIn = await installationsOnVersion(db, product.id, number);
  const decision = decideVersionChange({ env: call.config.env, version: number, latestVersion, activatedIn });
  if (decision.allowed) return;
  const count = decision.blockingInstallations.length;
  throw new ConflictError(
    'new_version_required',
    `version ${number} is activated in ${count} installation${count === 1 ? '' : 's'} other than ${PARTNER_TEST_INSTALLATION}; ` +
      `create a new version (POST /v1/products/${product.id}/versions) and change that one`,
    [{ path: 'params.version', message: `activated in ${count} installation${count === 1 ? '' : 's'} other than ${PARTNER_TEST_INSTALLATION}` }],
  );
}

/** Field names sorted and values de-duplicated, so equal filters compare (and store) equal. */
function canonicalFilters(filters: Record<string, string[]>): Record<string, string[]> {
  return Object.fromEntries(
    Object.keys(filters)
      .sort()
      .map((field) => [field, [...new Set(filters[field])]]),
  );
}

/** Makes a new draft version numbered after the latest, granting what the latest grants. */
export async function createVersion(call: ProductCallContext, productId: string): Promise<VersionView> {
  const { db, actor } = call;
  const { principal } = actor;
  return db.transaction(async (trx) => {
    const product = await requirePartnerProduct(trx, principal.partnerId, productId, 'update');
    const latest = await latestVersionNumber(trx, product.id);
    const number = latest + 1;
    await insertDraftVersion(trx, product.id, number);
    await copyVersionFunctions(trx, product.id, latest, number);
    await recordAudit(trx, actor, {
      action: 'product.version_created',
      targetType: 'product',
      targetId: product.id,
      data: { version: number, copiedFrom: latest },
    });
    return mustLoadVersion(trx, product.id, number);
  });
}

/**
 * Puts a function into a version, or replaces its setting there (filters, requireAccess).
 * The function must be in the catalog (422 on `params.functionKey`) and every filter field one it
 * declares (422 on `body.filters.<field>`). A PUT that changes nothing answers 200 without
 * touching the version, so repeating one is safe even where the version rule would refuse.
 */
export async function putVersionFunction(
  call: ProductCallContext,
  productId: string,
  versionText: string,
  functionKey: string,
  input: PutVersionFunctionInput,
): Promise<VersionView> {
  const { db, actor } = call;
  const { principal } = actor;
  return db.transaction(async (trx) => {
    const product = await requirePartnerProduct(trx, principal.partnerId, productId, 'update');
    const number = parseVersionNumber(versionText);
    await requireVersion(trx, product, number);
    const fn = await findFunction(trx, functionKey);
    if (!fn) {
      throw new UnprocessableError('unknown_function', `no function ${functionKey} in the catalog`, [
        { path: 'params.functionKey', message: `no function ${functionKey} in the catalog (GET /v1/functions lists them)` },
      ]);
    }
    const filters = canonicalFilters(input?.filters ?? {});
    const undeclared = Object.keys(filters).filter((field) => !fn.filter_fields.includes(field));
    if (undeclared.length > 0) {
      const declared = fn.filter_fields.length > 0 ? fn.filter_fields.join(', ') : 'none';
      throw new UnprocessableError(
        'unknown_filter_field',
        `function ${fn.key} cannot be filtered by ${undeclared.join(', ')} (its filter fields: ${declared})`,
        undeclared.map((field) => ({ path: `body.filters.${field}`, message: `not a filter field of ${fn.key} (its filter fields: ${declared})` })),
      );
    }
    const requireAccess = input?.requireAccess ?? true;
    const existing = (await versionFunctions(trx, product.id, number)).find((f) => f.function_key === fn.key);
    if (existing && existing.require_access === requireAccess && isDeepStrictEqual(canonicalFilters(existing.filters ?? {}), filters)) {
      return mustLoadVersion(trx, product.id, number);
    }
    await assertVersionChangeable(call, trx, product, number);
    await upsertVersionFunction(trx, { product_id: product.id, version: number, function_key: fn.key, require_access: requireAccess, filters });
    await touchProduct(trx, product.id);
    await recordAudit(trx, actor, {
      action: existing ? 'product.version_function_changed' : 'product.version_function_added',
      targetType: 'product',
      targetId: product.id,
      data: { version: number, functionKey: fn.key, requireAccess, filters },
    });
    return mustLoadVersion(trx, product.id, number);
  });
}

/** Removes a function from a version (404 if the version does not have it); same rule as a PUT. */
export async function removeVersionFunction(call: ProductCallContext, productId: string, versionText: string, functionKey: string): Promise<void> {
  const { db, actor } = call;
  const { principal } = actor;
  await db.transaction(async (trx) => {
    const product = await requirePartnerProduct(trx, principal.partnerId, productId, 'update');
    const number = parseVersionNumber(versionText);
    await requireVersion(trx, product, number);
    const existing = (await versionFunctions(trx, product.id, number)).find((f) => f.function_key === functionKey);
    if (!existing) throw new NotFoundError(`function ${functionKey} in version ${number} of product`, product.id);
    await assertVersionChangeable(call, trx, product, number);
    await deleteVersionFunction(trx, product.id, number, functionKey);
    await touchProduct(trx, product.id);
    await recordAudit(trx, actor, {
      action: 'product.version_function_removed',
      targetType: 'product',
      targetId: product.id,
      data: { version: number, functionKey },
    });
  });
}

/**
 * Activates a version: it becomes the one installations activate and upgrade to, the product
 * becomes active, and the previously active version is superseded (installations on it keep it
 * until they upgrade). A version older than the active one cannot be activated (409
 * `older_than_active`): installations would be told to "upgrade" backwards. A version without
 * functions cannot be activated (422 `version_empty`): it would grant nothing.
 *
 * After the commit, a `notify/upgrade-available` job is queued with a short delay; it tells every
 * installation on an older version. Activating the active version again changes nothing but
 * queues the job again (the job id and the notices' dedupe keys make that harmless), which is the
 * way to recover if queueing failed. Failure policy for the queueing: the activation is
 * committed either way, so a Redis error is logged and the answer is still 200.
 */
export async function activateVersion(call: ProductCallContext, queues: Queues, productId: string, versionText: string): Promise<ProductView> {
  const { db, actor, config } = call;
  const { principal } = actor;
  const { view, number } = await db.transaction(async (trx) => {
    const product = await requirePartnerProduct(trx, principal.partnerId, productId, 'update');
    const number = parseVersionNumber(versionText);
    await requireVersion(trx, product, number);
    const previous = product.active_version;
    if (previous !== null && number < previous) {
      throw new ConflictError('older_than_active', `version ${number} is older than the active version ${previous}`, [
        { path: 'params.version', message: `older than the active version ${previous}` },
      ]);
    }
    if (number !== previous) {
      if ((await versionFunctions(trx, product.id, number)).length === 0) {
        throw new UnprocessableError('version_empty', `version ${number} grants no function; put at least one function in it first`, [
          { path: 'params.version', message: 'grants no function' },
        ]);
      }
      await markVersionActive(trx, product.id, number);
      await recordAudit(trx, actor, {
        action: 'product.version_activated',
        targetType: 'product',
        targetId: product.id,
        data: { version: number, previous },
      });
    }
    const [view] = await toProductViews(trx, [(await findProduct(trx, product.id))!]);
    return { view: view!, number };
  });
  try {
    await queues.enqueue(
      'notify',
      'upgrade-available',
      { productId: view.id, version: number },
      // One job per product version: BullMQ ignores a second add with the same id while it keeps the first.
      { delay: config.upgradeNoticeDelayMs, jobId: `upgrade-available.${view.id}.${number}` },
    );
  } catch (err) {
    actor.log.error({ err, productId: view.id, version: number }, 'could not queue upgrade notices; activating the version again queues them');
  }
  return view;
}

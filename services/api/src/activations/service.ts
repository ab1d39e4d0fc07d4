import type { Db, Knex } from '#shared/db/knex';
import type { ProductRow } from '#shared/db/rows';
import { admitsInstallation } from '#shared/availability';
import { ConflictError, NotFoundError } from '#shared/errors';
import { isId } from '#shared/ids';
import { recordAudit } from '../audit/audit.ts';
import type { Actor } from '../http/actor.ts';
import { InstallationId } from '../installations/schema.ts';
import { findProduct, versionFunctions } from '../products/repository.ts';
import { type PageRequest, withRows, type Page } from '../http/pagination.ts';
import { installationExists } from '../installations/repository.ts';
import {
  deleteActivation,
  findActivation,
  findAvailableProduct,
  insertActivation,
  pageAvailableProducts,
  setActivationVersion,
  toInstallationProducts,
} from './repository.ts';
import { listNotifications, markUpgradeNoticesRead } from '../notifications/repository.ts';
import type { NotificationView } from '../notifications/schema.ts';
import type { InstallationProductView, UpgradeDiffView, UpgradeInput } from './schema.ts';

/**
 * An installation's products, as the HUB sees them acting for the installation's administrator.
 *
 * Answers, decided here once:
 * - an unknown installation, an unknown (or malformed) product id, or an activation that does
 *   not exist: 404;
 * - a product that exists but cannot be activated or upgraded here: 409, `product_inactive`
 *   (no version activated by its partner yet) or `not_available` (restricted to other
 *   installations). The HUB is a trusted caller, not a tenant, so there is nothing to hide by
 *   answering 404, and the distinct codes tell the administrator why (the same codes as the
 *   access check's reasons).
 * Deactivating works whatever the product's state: an installation can always let go.
 */

/** What a call needs besides its input. */
export interface InstallationCallContext {
  db: Knex;
  actor: Actor;
}

/** The installation's canonical (upper-case) InstallationID, or 404 for a malformed or unknown one. */
async function requireInstallation(db: Db, given: string): Promise<string> {
  const parsed = InstallationId.safeParse(given);
  if (!parsed.success || !(await installationExists(db, parsed.data))) throw new NotFoundError('installation', given);
  return parsed.data;
}

/** The product (locked for share, so the partner's version changes wait for us), or 404. */
async function requireProduct(db: Db, productId: string): Promise<ProductRow> {
  const product = isId('product', productId) ? await findProduct(db, productId, 'share') : null;
  if (!product) throw new NotFoundError('product', productId);
  return product;
}

/** 409 unless the product is active and admits the installation. */
function assertOffered(product: ProductRow, installationId: string): void {
  if (product.status !== 'active' || product.active_version === null) {
    throw new ConflictError('product_inactive', `product ${product.id} has no active version yet`);
  }
  if (!admitsInstallation(product, installationId)) {
    throw new ConflictError('not_available', `product ${product.id} is not available to installation ${installationId}`);
  }
}

async function viewFor(db: Db, installationId: string, productId: string): Promise<InstallationProductView> {
  const row = await findAvailableProduct(db, installationId, productId);
  if (!row) throw new NotFoundError('product', productId);
  const [view] = await toInstallationProducts(db, [row]);
  return view!;
}

const noActivation = (installationId: string, productId: string) =>
  new NotFoundError(`activation of product ${productId} in installation`, installationId);

/** The products available to the installation, upgradable first, a page at a time. */
export async function listInstallationProducts(
  db: Db,
  givenInstallationId: string,
  page: PageRequest,
): Promise<Page<InstallationProductView>> {
  const installationId = await requireInstallation(db, givenInstallationId);
  const rows = await pageAvailableProducts(db, installationId, page);
  return withRows(rows, await toInstallationProducts(db, rows.data));
}

/**
 * Activates the product for the installation at its active version. Activating a product the
 * installation already has changes nothing (an upgrade is its own, confirmed step) and answers
 * the current state.
 */
export async function activateProduct(call: InstallationCallContext, givenInstallationId: string, productId: string): Promise<InstallationProductView> {
  const { db, actor } = call;
  return db.transaction(async (trx) => {
    const installationId = await requireInstallation(trx, givenInstallationId);
    const product = await requireProduct(trx, productId);
    assertOffered(product, installationId);
    const existing = await findActivation(trx, installationId, product.id);
    if (!existing) {
      await insertActivation(trx, installationId, product.id, product.active_version!);
      await recordAudit(trx, actor, {
        action: 'installation.product_activated',
        targetType: 'installation',
        targetId: installationId,
        partnerId: product.partner_id,
        data: { productId: product.id, version: product.active_version },
      });
    }
    return viewFor(trx, installationId, product.id);
  });
}

async function diffOf(db: Db, productId: string, from: number, to: number): Promise<UpgradeDiffView> {
  const before = await versionFunctions(db, productId, from);
  const after = await versionFunctions(db, productId, to);
  const was = new Map(before.map((f) => [f.function_key, f]));
  const now = new Map(after.map((f) => [f.function_key, f]));
  const same = (a: (typeof before)[number], b: (typeof before)[number]) =>
    a.require_access === b.require_access && JSON.stringify(a.filters ?? {}) === JSON.stringify(b.filters ?? {});
  return {
    productId,
    from,
    to,
    functionsAdded: [...now.keys()].filter((k) => !was.has(k)),
    functionsRemoved: [...was.keys()].filter((k) => !now.has(k)),
    functionsChanged: [...now.keys()].filter((k) => was.has(k) && !same(was.get(k)!, now.get(k)!)),
  };
}

/** What upgrading would change: from the installation's version to the active one (equal when none is waiting). */
export async function getUpgrade(db: Knex, givenInstallationId: string, productId: string): Promise<UpgradeDiffView> {
  return db.transaction(async (trx) => {
    const installationId = await requireInstallation(trx, givenInstallationId);
    const product = await requireProduct(trx, productId);
    assertOffered(product, installationId);
    const activation = await findActivation(trx, installationId, product.id);
    if (!activation) throw noActivation(installationId, product.id);
    return diffOf(trx, product.id, activation.version, product.active_version!);
  });
}

/**
 * Moves the installation to the active version: only now does it grant the new version's
 * functions. 409 `no_upgrade_available` when it is already there; with `version` given, 409
 * `upgrade_target_changed` if the partner activated another version since the administrator
 * looked. The installation's upgrade notices of the product are marked read.
 */
export async function upgradeProduct(
  call: InstallationCallContext,
  givenInstallationId: string,
  productId: string,
  input: UpgradeInput,
): Promise<InstallationProductView> {
  const { db, actor } = call;
  return db.transaction(async (trx) => {
    const installationId = await requireInstallation(trx, givenInstallationId);
    const product = await requireProduct(trx, productId);
    assertOffered(product, installationId);
    const activation = await findActivation(trx, installationId, product.id, true);
    if (!activation) throw noActivation(installationId, product.id);
    const to = product.active_version!;
    if (input?.version !== undefined && input.version !== to) {
      throw new ConflictError('upgrade_target_changed', `the active version is now ${to}, not ${input.version}; review the difference again`, [
        { path: 'body.version', message: `the active version is ${to}` },
      ]);
    }
    if (activation.version >= to) {
      throw new ConflictError('no_upgrade_available', `installation ${installationId} is on version ${activation.version}, the active one`);
    }
    await setActivationVersion(trx, installationId, product.id, to);
    await markUpgradeNoticesRead(trx, installationId, product.id);
    await recordAudit(trx, actor, {
      action: 'installation.product_upgraded',
      targetType: 'installation',
      targetId: installationId,
      partnerId: product.partner_id,
      data: { productId: product.id, from: activation.version, to },
    });
    return viewFor(trx, installationId, product.id);
  });
}

/** Removes the installation's activation (404 if it has none); allowed whatever the product's state. */
export async function deactivateProduct(call: InstallationCallContext, givenInstallationId: string, productId: string): Promise<void> {
  const { db, actor } = call;
  await db.transaction(async (trx) => {
    const installationId = await requireInstallation(trx, givenInstallationId);
    const product = await requireProduct(trx, productId);
    const version = await deleteActivation(trx, installationId, product.id);
    if (version === null) throw noActivation(installationId, product.id);
    await recordAudit(trx, actor, {
      action: 'installation.product_deactivated',
      targetType: 'installation',
      targetId: installationId,
      partnerId: product.partner_id,
      data: { productId: product.id, version },
    });
  });
}

/** The installation's notices (upgrade available, ...), newest first. */
export async function listInstallationNotifications(
  db: Db,
  givenInstallationId: string,
  page: PageRequest,
): Promise<Page<NotificationView>> {
  const installationId = await requireInstallation(db, givenInstallationId);
  return listNotifications(db, { installationId }, page);
}

import { admitsInstallation } from '#shared/availability';
import { newId } from '#shared/ids';
import type { ProductRow } from '#shared/db/rows';
import type { JobHandler } from '../job.ts';

type UpgradeProductRow = Pick<ProductRow, 'id' | 'name' | 'status' | 'active_version' | 'availability_mode' | 'availability_installation_ids'>;

/** The dedupe key of one installation's notice about one product version: a re-run inserts nothing new. */
export const upgradeNoticeKey = (productId: string, version: number, installationId: string) =>
  `upgrade-available:${productId}:${version}:${installationId}`;

/**
 * `notify/upgrade-available {productId, version}`, queued (with a short delay) after a partner
 * activates a version: records an `upgrade_available` notice for every installation whose
 * activation of the product is on an older version and to which the product is still offered.
 *
 * Idempotent: each notice has a dedupe key (product, version, installation), so a retried or
 * repeated job adds nothing. A job for a version that is no longer the active one does nothing:
 * the newer version's own job tells the same installations about the newer version.
 * Failure policy: a database error fails the job and BullMQ retries it (catalog policy).
 */
export const recordUpgradeNotices: JobHandler<'notify', 'upgrade-available'> = async (data, { deps, log }) => {
  const { db } = deps;
  const product = (await db('products').where({ id: data.productId }).first()) as UpgradeProductRow | undefined;
  if (!product) {
    log.info({ productId: data.productId }, 'product gone; no upgrade notices');
    return;
  }
  if (product.status !== 'active' || product.active_version !== data.version) {
    log.info({ productId: product.id, version: data.version, activeVersion: product.active_version }, 'version no longer active; no upgrade notices');
    return;
  }
  const behind = ((await db('activations').where('product_id', product.id).where('version', '<', data.version).select('installation_id', 'version')) as {
    installation_id: string;
    version: number;
  }[]).filter((a) => admitsInstallation(product, a.installation_id));
  if (behind.length === 0) return;
  const rows = behind.map((a) => ({
    id: newId('notification'),
    installation_id: a.installation_id,
    product_id: product.id,
    kind: 'upgrade_available',
    message: `${product.name}: version ${data.version} is available (this installation has version ${a.version}); review what changes and confirm to upgrade`,
    data: JSON.stringify({ productId: product.id, productName: product.name, from: a.version, to: data.version }),
    dedupe_key: upgradeNoticeKey(product.id, data.version, a.installation_id),
  }));
  const inserted = (await db('notifications').insert(rows).onConflict('dedupe_key').ignore().returning('id')) as { id: string }[];
  log.info({ productId: product.id, version: data.version, installations: behind.length, recorded: inserted.length }, 'upgrade notices recorded');
};

import type { Db } from '#shared/db/knex';
import type { NotificationRow } from '#shared/db/rows';
import { mapPage, paginate, type Page, type PageRequest } from '../http/pagination.ts';
import type { NotificationView } from './schema.ts';

/**
 * The `notifications` table: notices for a partner (`partner_id`: a subscription was disabled,
 * ...) and for an installation's administrators (`installation_id`: an upgrade is available).
 * Every read is scoped to one of the two.
 */

/** Whose notices: a partner's or an installation's. */
export type NotificationScope = { partnerId: string } | { installationId: string };

const scoped = (db: Db, scope: NotificationScope) =>
  'partnerId' in scope
    ? db('notifications').where('notifications.partner_id', scope.partnerId)
    : db('notifications').where('notifications.installation_id', scope.installationId);

/** A notice row as the API shows it. */
export const toNotification = (row: NotificationRow): NotificationView => ({
  id: row.id,
  kind: row.kind,
  productId: row.product_id,
  message: row.message,
  data: row.data ?? {},
  createdAt: row.created_at.toISOString(),
  readAt: row.read_at ? row.read_at.toISOString() : null,
});

/** One page of a scope's notices, newest first; `unread` keeps those not marked read. */
export async function listNotifications(db: Db, scope: NotificationScope, page: PageRequest & { unread?: boolean }): Promise<Page<NotificationView>> {
  const query = scoped(db, scope).select('notifications.*');
  if (page.unread) query.whereNull('notifications.read_at');
  const rows = await paginate<NotificationRow>(db, query, page, {
    keys: ['notifications.created_at', 'notifications.id'],
    order: 'desc',
  });
  return mapPage(rows, toNotification);
}

/** Marks one of the scope's notices read (a notice read before keeps its first time); null if the scope has no such notice. */
export async function markNotificationRead(db: Db, scope: NotificationScope, id: string): Promise<NotificationView | null> {
  const rows = (await scoped(db, scope)
    .where('notifications.id', id)
    .update({ read_at: db.raw('coalesce(read_at, now())') })
    .returning('*')) as NotificationRow[];
  return rows[0] ? toNotification(rows[0]) : null;
}

/** Marks every unread notice of the scope read; returns how many. */
export async function markAllNotificationsRead(db: Db, scope: NotificationScope): Promise<number> {
  return scoped(db, scope).whereNull('notifications.read_at').update({ read_at: db.fn.now() });
}

/** Marks the installation's unread upgrade notices of a product read (it has upgraded). */
export async function markUpgradeNoticesRead(db: Db, installationId: string, productId: string): Promise<void> {
  await db('notifications').where({ installation_id: installationId, product_id: productId, kind: 'upgrade_available' }).whereNull('read_at').update({ read_at: db.fn.now() });
}

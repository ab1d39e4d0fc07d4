import type { Db } from '#shared/db/knex';
import { NotFoundError } from '#shared/errors';
import { isId } from '#shared/ids';
import { markNotificationRead, type NotificationScope } from './repository.ts';
import type { NotificationView } from './schema.ts';

export { listNotifications, markAllNotificationsRead } from './repository.ts';

/** Marks one notice of the scope read (again is harmless: it keeps the first time); 404 for any other. */
export async function readNotification(db: Db, scope: NotificationScope, id: string): Promise<NotificationView> {
  const notice = isId('notification', id) ? await markNotificationRead(db, scope, id) : null;
  if (!notice) throw new NotFoundError('notification', id);
  return notice;
}

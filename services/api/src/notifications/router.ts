import type { ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { listNotifications, markAllNotificationsRead, readNotification } from './service.ts';
import { ListNotificationsQuery, MarkedRead, Notification, NotificationPage, NotificationParams } from './schema.ts';

/** A partner reads what it is told (a subscription disabled, and why) and marks it read. */
export function registerNotificationRoutes(api: ApiRoutes, deps: AppDeps): void {
  const tags = ['notifications'];

  api.add({
    method: 'get',
    path: '/v1/notifications',
    operationId: 'listNotifications',
    auth: ['partner'],
    summary: 'The partner’s notices (a subscription disabled, and why), newest first; `unread=true` for those not marked read',
    tags,
    query: ListNotificationsQuery,
    responses: { 200: NotificationPage, 400: 'a filter or the cursor is malformed' },
    handler: async ({ query, principal }) => ({ status: 200, body: await listNotifications(deps.db, { partnerId: principal.partnerId }, query) }),
  });

  api.add({
    method: 'post',
    path: '/v1/notifications/read-all',
    operationId: 'markAllNotificationsRead',
    auth: ['partner'],
    summary: 'Mark every unread notice of the partner read',
    tags,
    responses: { 200: MarkedRead },
    handler: async ({ principal }) => ({ status: 200, body: { marked: await markAllNotificationsRead(deps.db, { partnerId: principal.partnerId }) } }),
  });

  api.add({
    method: 'post',
    path: '/v1/notifications/:notificationId/read',
    operationId: 'markNotificationRead',
    auth: ['partner'],
    summary: 'Mark one notice read (again is harmless: it keeps the first time)',
    tags,
    params: NotificationParams,
    responses: { 200: Notification, 404: 'no such notice of this partner' },
    handler: async ({ params, principal }) => ({ status: 200, body: await readNotification(deps.db, { partnerId: principal.partnerId }, params.notificationId) }),
  });
}

import { z } from 'zod';
import { PageQuery, pageOf } from '../http/pagination.ts';

/** A notice for a partner (subscription disabled, ...) or for an installation's administrators (upgrade available). */
export const Notification = z.object({
  id: z.string(),
  kind: z.string(),
  productId: z.string().nullable(),
  message: z.string(),
  data: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
  readAt: z.string().nullable(),
}).meta({ id: 'Notification' });
export type NotificationView = z.infer<typeof Notification>;

export const NotificationPage = pageOf(Notification);

export const ListNotificationsQuery = PageQuery.extend({
  /** `true`: only notices not marked read yet. */
  unread: z
    .enum(['true', 'false'])
    .optional()
    .transform((value) => value === 'true'),
});
export type ListNotificationsInput = z.infer<typeof ListNotificationsQuery>;

export const NotificationParams = z.object({ notificationId: z.string() });

export const MarkedRead = z.object({ marked: z.number().int() }).meta({ id: 'MarkedRead' });

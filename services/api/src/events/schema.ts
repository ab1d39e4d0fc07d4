import { z } from 'zod';

/** One change event as HUB publishes it. */
export const HubEvent = z.object({
  /** HUB's own id; publishing the same id again is a duplicate, not a new event. */
  id: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7e]+$/, 'visible ASCII characters only'),
  installationId: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'an InstallationID such as MSVPAR'),
  type: z
    .string()
    .max(100)
    .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, 'a dotted event type such as estate.updated'),
  entityId: z.string().min(1).max(200).optional(),
  occurredAt: z.iso.datetime({ offset: true }),
  data: z.record(z.string(), z.unknown()),
}).meta({ id: 'HubEvent' });
export type HubEventInput = z.infer<typeof HubEvent>;

export const PublishEventsBody = z.object({ events: z.array(HubEvent).min(1).max(1000) }).meta({ id: 'PublishEventsRequest' });

export const PublishEventsAnswer = z.object({ accepted: z.number().int(), duplicates: z.number().int() }).meta({ id: 'PublishEventsResult' });

import { z } from 'zod';
import { InstallationId } from '../installations/schema.ts';
import { Timestamp } from '../http/timestamp.ts';

/** The most events one batch may carry. */
export const MAX_EVENTS = 1000;

/** One change event as HUB publishes it. */
export const HubEvent = z.object({
  /** HUB's own id; publishing the same id again is a duplicate, not a new event. */
  id: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7e]+$/, 'visible ASCII characters only'),
  /** Normalised as installations' own are (`msvpar` is `MSVPAR`), so the event reaches that installation's subscribers. */
  installationId: InstallationId,
  type: z
    .string()
    .max(100)
    .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, 'a dotted event type such as estate.updated'),
  entityId: z.string().min(1).max(200).optional(),
  occurredAt: Timestamp,
  data: z.record(z.string(), z.unknown()),
}).meta({ id: 'HubEvent' });
export type HubEventInput = z.infer<typeof HubEvent>;

export const PublishEventsBody = z.object({ events: z.array(HubEvent).min(1).max(MAX_EVENTS) }).meta({ id: 'PublishEventsRequest' });

/** An event of the batch that was not taken, and why: each detail names a field (`body.events.3.occurredAt`). */
export const RejectedEvent = z
  .object({
    /** Its position in `events`, from 0. */
    index: z.number().int(),
    /** Its `id` as sent, or null when the id itself is missing or invalid. */
    id: z.string().nullable(),
    details: z.array(z.object({ path: z.string(), message: z.string(), code: z.string().optional() })),
  })
  .meta({ id: 'RejectedEvent' });

export const PublishEventsAnswer = z
  .object({
    /** New events, committed. */
    accepted: z.number().int(),
    /** Valid events whose id was seen before (in this batch or earlier): taken already, nothing to do. */
    duplicates: z.number().int(),
    /** Invalid events, not taken; publishing them again as they are gets the same answer. */
    rejected: z.array(RejectedEvent),
  })
  .meta({ id: 'PublishEventsResult' });

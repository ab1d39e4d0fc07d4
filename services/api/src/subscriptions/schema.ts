import { z } from 'zod';
import { MAX_RATE_PER_SECOND } from '#shared/delivery/limits';
import { ORDERINGS } from '#shared/delivery/ordering';
import { PageQuery } from '../http/pagination.ts';

/** Most subscriptions one product may have (live ones; deleted ones do not count). */
export const MAX_SUBSCRIPTIONS_PER_PRODUCT = 50;
/** Longest description. */
export const MAX_DESCRIPTION_LENGTH = 500;

// The URL's rules (form, scheme, length, addresses) are the SSRF guard's, applied in the service
// so that every refusal carries the guard's code and reason; here it only has to be text.
const Url = z.string().min(1, 'must be a URL');
const EventTypes = z
  .array(z.string().min(1).max(200))
  .min(1, 'list at least one event type, or leave eventTypes out for all of them')
  .max(100);
const Description = z.string().trim().max(MAX_DESCRIPTION_LENGTH);
/** Requests started per second at most; null lifts the partner's own limit (the operator's ceiling stays). */
export const RateLimitPerSecond = z.number().int('must be a whole number of requests per second').min(1).max(MAX_RATE_PER_SECOND).nullable();

/**
 * `none`: messages go as fast as possible, in any order. `entity`: the messages of one entity
 * (an event's installationId and entityId) go one at a time, in the order HUB published the
 * events; a later one is sent only after the one before it succeeded (or went dead). Events
 * without an entityId are not ordered. See docs/receivers.md, "Ordering".
 */
export const SubscriptionOrdering = z
  .enum(ORDERINGS, { error: 'must be none or entity' })
  .meta({ id: 'SubscriptionOrdering', description: 'none: any order. entity: one entity\'s messages one at a time, in publication order; a message waits until the one before it succeeded or went dead. Changing it applies to messages made from then on; turning it off releases the messages waiting at once.' });

export const ProductParams = z.object({ productId: z.string() });
export const SubscriptionParams = z.object({ subscriptionId: z.string() });
export const ListSubscriptionsQuery = PageQuery;

export const CreateSubscriptionBody = z.object({
  functionKey: z.string().min(1).max(200),
  url: Url,
  eventTypes: EventTypes.optional(),
  description: Description.optional(),
  /** Default `none`. */
  ordering: SubscriptionOrdering.optional(),
}).meta({ id: 'CreateSubscriptionRequest' });
export type CreateSubscriptionInput = z.infer<typeof CreateSubscriptionBody>;

export const UpdateSubscriptionBody = z
  .object({
    url: Url.optional(),
    eventTypes: EventTypes.optional(),
    description: Description.optional(),
    rateLimitPerSecond: RateLimitPerSecond.optional(),
    ordering: SubscriptionOrdering.optional(),
  })
  .refine(
    (body) => body.url !== undefined || body.eventTypes !== undefined || body.description !== undefined || body.rateLimitPerSecond !== undefined || body.ordering !== undefined,
    { message: 'give at least one of url, eventTypes, description, rateLimitPerSecond, ordering' },
  )
  .meta({ id: 'UpdateSubscriptionRequest' });
export type UpdateSubscriptionInput = z.infer<typeof UpdateSubscriptionBody>;

export const SubscriptionState = z.enum(['active', 'paused', 'disabled']);
export type SubscriptionStateValue = z.infer<typeof SubscriptionState>;

/** A subscription as the API shows it: never its secret. */
export const Subscription = z.object({
  id: z.string(),
  productId: z.string(),
  functionKey: z.string(),
  url: z.string(),
  eventTypes: z.array(z.string()),
  description: z.string(),
  /** `active`, `paused`, or `disabled` (see `disabledReason`). */
  status: SubscriptionState,
  state: SubscriptionState.meta({ deprecated: true, description: 'Deprecated: the same as `status`; removed in the next version.' }),
  disabledReason: z.string().nullable(),
  /** Set while a rotation overlaps: until then the previous secret signs too. */
  previousSecretExpiresAt: z.string().nullable(),
  lastSuccessAt: z.string().nullable(),
  lastFailureAt: z.string().nullable(),
  consecutiveFailures: z.number().int(),
  /** The partner's own limit on requests started per second; null: none of its own. */
  rateLimitPerSecond: z.number().int().nullable(),
  /** The operator's ceiling; the partner's limit cannot exceed it. Null: no ceiling. The lower of the two is enforced. */
  maxRateLimitPerSecond: z.number().int().nullable(),
  ordering: SubscriptionOrdering,
  createdAt: z.string(),
  updatedAt: z.string(),
}).meta({ id: 'Subscription' });
export type SubscriptionView = z.infer<typeof Subscription>;

/** A create answer: the subscription at the top level, beside its one-time signing secret. */
export const CreatedSubscription = Subscription.extend({
  /** The signing secret (`whsec_…`): shown here and on rotation only. */
  secret: z.string(),
  subscription: Subscription.meta({ deprecated: true, description: 'Deprecated: the same fields as the top level; removed in the next version.' }),
}).meta({ id: 'CreatedSubscription' });
export const RotatedSecret = z.object({
  secret: z.string(),
  /** Until then the previous secret keeps signing too. */
  previousSecretExpiresAt: z.string(),
}).meta({ id: 'RotatedSecret' });
export const TestMessage = z.object({ messageId: z.string() }).meta({ id: 'TestMessageSent' });

/**
 * The rules of push subscriptions: what may be subscribed (a pushable function the product's
 * latest version grants, event types the function emits, a receiver URL the SSRF guard admits and
 * that answers a signed verification request), the limits, the state machine
 * (active ⇄ paused; disabled only by the delivery engine or an operator), secret rotation,
 * deletion and test messages.
 *
 * Failure policy: every refusal is a typed AppError naming the field; a subscription is stored
 * only after its receiver answered 2xx. Changes and their audit records commit together; jobs
 * are enqueued only after the commit (a lost enqueue is repaired by the reconciler, which finds
 * pending messages no job carries).
 */
import type { Db, Knex } from '#shared/db/knex';
import type { FunctionRow } from '#shared/db/rows';
import type { Queues } from '#shared/queues/connection';
import type { SecretBox } from '#shared/secret-box';
import { ConflictError, NotFoundError, UnprocessableError, type ErrorDetail } from '#shared/errors';
import { isId, newId, randomText } from '#shared/ids';
import { generateSecret } from '#shared/signing';
import { checkUrl, type GuardPolicy } from '#shared/url-guard';
import { activeSecrets } from '#shared/delivery/secrets';
import { enqueueDeliveries, releaseHeldMessages } from '#shared/delivery/requeue';
import type { PartnerActor } from '../http/actor.ts';
import { type PageRequest, mapPage } from '../http/pagination.ts';
import { recordAudit } from '../audit/audit.ts';
import { findFunction } from '../functions/repository.ts';
import { requirePartnerProduct } from '../products/service.ts';
import * as repo from './repository.ts';
import type { SubscriptionRow } from './repository.ts';
import {
  MAX_SUBSCRIPTIONS_PER_PRODUCT,
  type CreateSubscriptionInput,
  type SubscriptionView,
  type UpdateSubscriptionInput,
} from './schema.ts';
import { verifyReceiver } from './verify-receiver.ts';

/** What the service needs from the process. */
export interface SubscriptionDeps {
  db: Knex;
  queues: Queues;
  box: SecretBox;
  policy: GuardPolicy;
  verifyTimeoutMs: number;
}

/** The installation test messages are published for: the shared partner test installation. */
export const TEST_INSTALLATION_ID = 'MSVPAR';
/** How long the previous secret keeps signing after a rotation. */
export const ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;

const iso = (value: Date | null): string | null => (value === null ? null : value.toISOString());

/** A subscription row as the API shows it (no secret, sealed or not). */
export function toSubscription(row: SubscriptionRow): SubscriptionView {
  const overlapping = row.previous_secret_expires_at !== null && row.previous_secret_expires_at.getTime() > Date.now();
  return {
    id: row.id,
    productId: row.product_id,
    functionKey: row.function_key,
    url: row.url,
    eventTypes: row.event_types,
    description: row.description,
    status: row.state,
    state: row.state,
    disabledReason: row.disabled_reason,
    previousSecretExpiresAt: overlapping ? iso(row.previous_secret_expires_at) : null,
    lastSuccessAt: iso(row.last_success_at),
    lastFailureAt: iso(row.last_failure_at),
    consecutiveFailures: row.consecutive_failures,
    rateLimitPerSecond: row.rate_per_second,
    maxRateLimitPerSecond: row.max_rate_per_second,
    ordering: row.ordering,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------
// Checks

function partnerProduct(db: Db, actor: PartnerActor, productId: string, forUpdate = false) {
  return requirePartnerProduct(db, actor.principal.partnerId, productId, forUpdate ? 'update' : undefined);
}

function partnerSubscription(db: Db, actor: PartnerActor, id: string, forUpdate = false): Promise<SubscriptionRow> {
  return requirePartnerSubscription(db, actor.principal.partnerId, id, { forUpdate });
}

/** Loads the partner's live subscription or answers 404 (malformed ids, unknown, deleted and other partners' alike). */
export async function requirePartnerSubscription(db: Db, partnerId: string, id: string, options: { forUpdate?: boolean } = {}): Promise<SubscriptionRow> {
  const row = isId('subscription', id) ? await repo.findPartnerSubscription(db, partnerId, id, options) : null;
  if (!row) throw new NotFoundError('subscription', id);
  return row;
}

/** The URL as the guard normalises it; a 422 naming `body.url` with the guard's code and reason otherwise. */
export function acceptUrl(raw: string, policy: GuardPolicy): URL {
  const checked = checkUrl(raw, policy);
  if (checked.ok) return checked.url;
  const detail: ErrorDetail = { path: 'body.url', code: checked.code, message: checked.reason };
  if (checked.code === 'forbidden_address') {
    throw new UnprocessableError('forbidden_address', `the receiver URL is not allowed: it points at a ${checked.reason} address`, [detail]);
  }
  throw new UnprocessableError('invalid_url', `the receiver URL is not acceptable: ${checked.reason}`, [detail]);
}

/** The partner's rate limit, checked against the operator's ceiling: lowering is the partner's, raising above it is not. */
function acceptRateLimit(row: SubscriptionRow, wanted: number | null): number | null {
  const ceiling = row.max_rate_per_second;
  if (wanted !== null && ceiling !== null && wanted > ceiling) {
    throw new UnprocessableError('rate_limit_above_ceiling', `rateLimitPerSecond may be at most ${ceiling}, the limit an operator set for this subscription`, [
      { path: 'body.rateLimitPerSecond', code: 'rate_limit_above_ceiling', message: `at most ${ceiling}` },
    ]);
  }
  return wanted;
}

/** The wanted event types, de-duplicated; a 422 naming each `body.eventTypes.N` the function does not emit. */
function acceptEventTypes(fn: FunctionRow, wanted: string[] | undefined): string[] {
  if (wanted === undefined) return [...fn.event_types];
  const details: ErrorDetail[] = [];
  wanted.forEach((type, i) => {
    if (!fn.event_types.includes(type)) {
      details.push({ path: `body.eventTypes.${i}`, code: 'unknown_event_type', message: `${fn.key} does not emit ${type}; it emits ${fn.event_types.join(', ')}` });
    }
  });
  if (details.length > 0) throw new UnprocessableError('unknown_event_type', `event types not emitted by ${fn.key}: ${details.map((d) => d.path).join(', ')}`, details);
  return [...new Set(wanted)];
}

/** The function, checked to exist, be pushable and be granted by the product's latest version. */
async function subscribableFunction(db: Knex, productId: string, functionKey: string): Promise<FunctionRow> {
  const path = 'body.functionKey';
  const fn = await findFunction(db, functionKey);
  if (!fn) throw new UnprocessableError('unknown_function', `no function ${functionKey} in the catalog`, [{ path, code: 'unknown_function', message: 'no such function' }]);
  if (fn.event_types.length === 0) {
    throw new UnprocessableError('not_pushable', `${functionKey} emits no events, so it cannot be subscribed to`, [{ path, code: 'not_pushable', message: 'the function is not pushable' }]);
  }
  const grant = await repo.latestVersionGrant(db, productId, functionKey);
  if (grant.filters === null) {
    const which = grant.version === null ? 'the product has no version yet' : `version ${grant.version}, the product's latest, does not grant it`;
    throw new UnprocessableError('function_not_granted', `${functionKey} cannot be subscribed to: ${which}`, [{ path, code: 'function_not_granted', message: which }]);
  }
  return fn;
}

function limitReached(): ConflictError {
  return new ConflictError('subscription_limit_reached', `a product may have at most ${MAX_SUBSCRIPTIONS_PER_PRODUCT} subscriptions; delete one first`, [
    { path: 'params.productId', code: 'subscription_limit_reached', message: `at most ${MAX_SUBSCRIPTIONS_PER_PRODUCT} subscriptions per product` },
  ]);
}

// ---------------------------------------------------------------------------------------------
// Operations

/** Creates a subscription once its receiver accepted a verification request signed with the new secret; the secret is returned this once. */
export async function createSubscription(
  deps: SubscriptionDeps,
  actor: PartnerActor,
  productId: string,
  input: CreateSubscriptionInput,
): Promise<SubscriptionView & { secret: string; subscription: SubscriptionView }> {
  const product = await partnerProduct(deps.db, actor, productId);
  const fn = await subscribableFunction(deps.db, product.id, input.functionKey);
  const eventTypes = acceptEventTypes(fn, input.eventTypes);
  const url = acceptUrl(input.url, deps.policy);
  // Checked before the receiver is bothered, and again under the product's lock below.
  if ((await repo.countLiveSubscriptions(deps.db, product.id)) >= MAX_SUBSCRIPTIONS_PER_PRODUCT) throw limitReached();

  const secret = generateSecret();
  await verifyReceiver(url, [secret], { policy: deps.policy, timeoutMs: deps.verifyTimeoutMs, log: actor.log });

  const row = await deps.db.transaction(async (trx) => {
    // The lock serialises creates on one product, so two at once cannot both pass the limit.
    await partnerProduct(trx, actor, product.id, true);
    if ((await repo.countLiveSubscriptions(trx, product.id)) >= MAX_SUBSCRIPTIONS_PER_PRODUCT) throw limitReached();
    const inserted = await repo.insertSubscription(trx, {
      id: newId('subscription'),
      partner_id: actor.principal.partnerId,
      product_id: product.id,
      function_key: fn.key,
      url: url.href,
      event_types: eventTypes,
      description: input.description ?? '',
      ordering: input.ordering ?? 'none',
      secret_sealed: deps.box.seal(secret),
    });
    await recordAudit(trx, actor, {
      action: 'subscription.created',
      targetType: 'subscription',
      targetId: inserted.id,
      data: { productId: product.id, functionKey: fn.key, url: url.href, eventTypes, ordering: inserted.ordering },
    });
    return inserted;
  });
  const subscription = toSubscription(row);
  return { ...subscription, secret, subscription };
}

/** One page of the product's subscriptions (404 for another partner's product). */
export async function listSubscriptions(deps: SubscriptionDeps, actor: PartnerActor, productId: string, page: PageRequest) {
  const product = await partnerProduct(deps.db, actor, productId);
  const result = await repo.listProductSubscriptions(deps.db, product.id, page);
  return mapPage(result, toSubscription);
}

/** One of the partner's subscriptions. */
export async function getSubscription(deps: SubscriptionDeps, actor: PartnerActor, id: string): Promise<SubscriptionView> {
  return toSubscription(await partnerSubscription(deps.db, actor, id));
}

/**
 * Changes url, event types, description, rate limit or ordering; a different url is verified
 * first, signed with the subscription's active secrets. Ordering may change with messages in
 * flight: turned on, it orders the messages made from then on; turned off, the messages waiting
 * for an earlier one are released at once (delivered as they come).
 */
export async function updateSubscription(deps: SubscriptionDeps, actor: PartnerActor, id: string, input: UpdateSubscriptionInput): Promise<SubscriptionView> {
  const current = await partnerSubscription(deps.db, actor, id);
  const changes: Parameters<typeof repo.updateSubscription>[2] = {};
  if (input.eventTypes !== undefined) {
    const fn = await findFunction(deps.db, current.function_key);
    if (!fn) throw new NotFoundError('function', current.function_key); // FK: cannot happen while the row exists
    changes.event_types = acceptEventTypes(fn, input.eventTypes);
  }
  if (input.description !== undefined) changes.description = input.description;
  if (input.ordering !== undefined && input.ordering !== current.ordering) changes.ordering = input.ordering;
  if (input.rateLimitPerSecond !== undefined && input.rateLimitPerSecond !== current.rate_per_second) {
    changes.rate_per_second = acceptRateLimit(current, input.rateLimitPerSecond);
  }
  if (input.url !== undefined) {
    const url = acceptUrl(input.url, deps.policy);
    if (url.href !== current.url) {
      await verifyReceiver(url, activeSecrets(current, deps.box), { policy: deps.policy, timeoutMs: deps.verifyTimeoutMs, log: actor.log });
      changes.url = url.href;
    }
  }
  if (Object.keys(changes).length === 0) return toSubscription(current); // the same URL again: nothing to do
  let released: { id: string; attempts: number; subscriptionId: string }[] = [];
  const row = await deps.db.transaction(async (trx) => {
    const locked = await partnerSubscription(trx, actor, id, true); // deleted meanwhile: 404
    // The operator may have lowered the ceiling since it was read.
    if (changes.rate_per_second !== undefined) acceptRateLimit(locked, changes.rate_per_second);
    const updated = await repo.updateSubscription(trx, id, changes);
    // Turned off: nothing of this subscription waits for an earlier message any more.
    if (changes.ordering === 'none') released = await repo.releaseOrderedMessages(trx, id);
    await recordAudit(trx, actor, {
      action: 'subscription.updated',
      targetType: 'subscription',
      targetId: id,
      data: {
        ...(changes.url !== undefined ? { url: { from: current.url, to: changes.url } } : {}),
        ...(changes.event_types !== undefined ? { eventTypes: { from: current.event_types, to: changes.event_types } } : {}),
        ...(changes.description !== undefined ? { description: changes.description } : {}),
        ...(changes.rate_per_second !== undefined ? { rateLimitPerSecond: { from: current.rate_per_second, to: changes.rate_per_second } } : {}),
        ...(changes.ordering !== undefined ? { ordering: { from: current.ordering, to: changes.ordering } } : {}),
      },
    });
    return updated;
  });
  // After the commit; if the enqueue fails they are pending and due, and the reconciler sends them.
  await enqueueDeliveries(deps.queues, released, `.unordered.${Date.now()}`);
  return toSubscription(row);
}

/** Soft-deletes the subscription and cancels its undelivered (pending or held) messages, in one transaction. */
export async function deleteSubscription(deps: SubscriptionDeps, actor: PartnerActor, id: string): Promise<void> {
  await deps.db.transaction(async (trx) => {
    await partnerSubscription(trx, actor, id, true);
    await repo.updateSubscription(trx, id, { deleted_at: new Date() });
    const cancelled = await repo.cancelOpenMessages(trx, id);
    await recordAudit(trx, actor, {
      action: 'subscription.deleted',
      targetType: 'subscription',
      targetId: id,
      data: { cancelledMessages: cancelled },
    });
  });
}

function disabledConflict(row: SubscriptionRow): ConflictError {
  return new ConflictError(
    'subscription_disabled',
    `the subscription is disabled${row.disabled_reason ? ` (${row.disabled_reason})` : ''}; an operator re-enables it`,
  );
}

/** Pauses delivery (messages wait as `held`, nothing is dropped). Pausing a paused one changes nothing; a disabled one is 409. */
export async function pauseSubscription(deps: SubscriptionDeps, actor: PartnerActor, id: string): Promise<SubscriptionView> {
  const row = await deps.db.transaction(async (trx) => {
    const current = await partnerSubscription(trx, actor, id, true);
    if (current.state === 'disabled') throw disabledConflict(current);
    if (current.state === 'paused') return current;
    const updated = await repo.updateSubscription(trx, id, { state: 'paused' });
    await recordAudit(trx, actor, { action: 'subscription.paused', targetType: 'subscription', targetId: id });
    return updated;
  });
  return toSubscription(row);
}

/**
 * Resumes a paused subscription, then releases its held messages to delivery. Resuming an active
 * one changes nothing; a disabled one is 409 (only operators re-enable: a disabled receiver was
 * failing, and the partner must not simply undo that).
 * The release runs after the state change commits (it enqueues jobs, which must see committed
 * rows); if it fails, the reconciler releases held messages of active subscriptions.
 */
export async function resumeSubscription(deps: SubscriptionDeps, actor: PartnerActor, id: string): Promise<SubscriptionView> {
  let resumed = false;
  const row = await deps.db.transaction(async (trx) => {
    const current = await partnerSubscription(trx, actor, id, true);
    if (current.state === 'disabled') throw disabledConflict(current);
    if (current.state === 'active') return current;
    const updated = await repo.updateSubscription(trx, id, { state: 'active' });
    await recordAudit(trx, actor, { action: 'subscription.resumed', targetType: 'subscription', targetId: id });
    resumed = true;
    return updated;
  });
  if (resumed) {
    const released = await releaseHeldMessages(deps.db, deps.queues, id);
    actor.log?.info({ subscriptionId: id, released }, 'subscription resumed');
  }
  return toSubscription(row);
}

/** Makes a new signing secret; the previous one keeps signing for 24 h. Returns the new one (shown this once). */
export async function rotateSecret(deps: SubscriptionDeps, actor: PartnerActor, id: string): Promise<{ secret: string; previousSecretExpiresAt: string }> {
  const secret = generateSecret();
  const expiresAt = new Date(Date.now() + ROTATION_OVERLAP_MS);
  await deps.db.transaction(async (trx) => {
    const current = await partnerSubscription(trx, actor, id, true);
    // A rotation during an overlap drops the older previous secret: two at most ever sign.
    await repo.updateSubscription(trx, id, {
      secret_sealed: deps.box.seal(secret),
      previous_secret_sealed: current.secret_sealed,
      previous_secret_expires_at: expiresAt,
    });
    await recordAudit(trx, actor, {
      action: 'subscription.secret_rotated',
      targetType: 'subscription',
      targetId: id,
      data: { previousSecretExpiresAt: expiresAt.toISOString() },
    });
  });
  return { secret, previousSecretExpiresAt: expiresAt.toISOString() };
}

// Example values for well-known filter fields; any other field gets `example-<field>`.
const EXAMPLE_VALUES: Record<string, unknown> = {
  departmentId: 'dep-1001',
  estateStatus: 'for_sale',
  estateType: 'apartment',
  brokerId: 'brk-2001',
  officeId: 'off-3001',
  contactType: 'buyer',
  country: 'DE',
  city: 'Berlin',
};

/** Example event data for a function: each filter field, with the value the product's filter allows first where it restricts it. */
export function exampleData(fn: FunctionRow, filters: Record<string, unknown[]>, entityId: string): Record<string, unknown> {
  const data: Record<string, unknown> = { id: entityId, example: true };
  for (const field of fn.filter_fields) {
    const allowed = filters[field];
    data[field] = Array.isArray(allowed) && allowed.length > 0 ? allowed[0] : (EXAMPLE_VALUES[field] ?? `example-${field}`);
  }
  return data;
}

/**
 * Publishes an example event of the subscription's function (its first wanted event type) to
 * this subscription only, through the normal delivery path: event and message are committed,
 * then the message is queued. A paused subscription gets it held, like any other message.
 */
export async function sendTestMessage(deps: SubscriptionDeps, actor: PartnerActor, id: string): Promise<{ messageId: string }> {
  const messageId = newId('message');
  const status = await deps.db.transaction(async (trx) => {
    const sub = await partnerSubscription(trx, actor, id, true);
    if (sub.state === 'disabled') throw disabledConflict(sub);
    const fn = await findFunction(trx, sub.function_key);
    if (!fn) throw new NotFoundError('function', sub.function_key);
    const grant = await repo.latestVersionGrant(trx, sub.product_id, sub.function_key);
    const type = sub.event_types[0] ?? fn.event_types[0];
    if (type === undefined) throw new UnprocessableError('not_pushable', `${fn.key} emits no events`);
    const entityId = `example-${randomText(10)}`;
    const eventId = newId('event');
    const messageStatus = sub.state === 'paused' ? 'held' : 'pending';
    await repo.insertDirectMessage(
      trx,
      { id: eventId, installation_id: TEST_INSTALLATION_ID, type, entity_id: entityId, occurred_at: new Date(), data: exampleData(fn, grant.filters ?? {}, entityId) },
      { id: messageId, subscription_id: sub.id, status: messageStatus, next_attempt_at: messageStatus === 'pending' ? new Date() : null },
    );
    await recordAudit(trx, actor, {
      action: 'subscription.test_sent',
      targetType: 'subscription',
      targetId: sub.id,
      data: { messageId, eventId, type },
    });
    return messageStatus;
  });
  // Due now, with the engine's job id (message id and attempt count): the job claims the message
  // when it runs, and a re-enqueue by the reconciler collapses into this job while it exists.
  if (status === 'pending') await enqueueDeliveries(deps.queues, [{ id: messageId, attempts: 0, subscriptionId: id }]);
  return { messageId };
}

/**
 * The delivery log as partners read and repair it: a subscription's messages, one message with
 * its payload and attempts, resend, recover, stats. Every call first checks that the
 * subscription or message is the caller's (another partner's is a 404).
 */
import type { z } from 'zod';
import type { Db } from '#shared/db/knex';
import { ConflictError, NotFoundError } from '#shared/errors';
import { isId } from '#shared/ids';
import { parseDuration } from '#shared/duration';
import { buildPayload } from '#shared/delivery/payload';
import { requeueMessages } from '#shared/delivery/requeue';
import type { Queues } from '#shared/queues/connection';
import type { PartnerActor } from '../http/actor.ts';
import { mapPage, type Page } from '../http/pagination.ts';
import { requirePartnerSubscription } from '../subscriptions/service.ts';
import {
  attemptStats,
  findPartnerMessage,
  listAttempts,
  messagesToRecover,
  oneMessage,
  pageAttempts,
  pageSubscriptionMessages,
  toAttemptRecord,
  toMessage,
} from './repository.ts';
import type { AttemptFilters, AttemptRecord, Message, MessageDetail, MessageListQuery, RecoverBody, Stats, StatsQuery } from './schema.ts';

async function partnerMessage(db: Db, actor: PartnerActor, id: string) {
  const row = isId('message', id) ? await findPartnerMessage(db, actor.principal.partnerId, id) : null;
  if (!row) throw new NotFoundError('message', id);
  return row;
}

/** A subscription's delivery log, newest first, filtered by status, creation time and what the event carried. */
export async function listMessages(db: Db, actor: PartnerActor, subscriptionId: string, query: z.infer<typeof MessageListQuery>): Promise<Page<z.infer<typeof Message>>> {
  await requirePartnerSubscription(db, actor.principal.partnerId, subscriptionId);
  return mapPage(await pageSubscriptionMessages(db, subscriptionId, query), toMessage);
}

/** The attempts of one of the partner's messages, newest first, filtered by outcome class and time. */
export async function listMessageAttempts(db: Db, actor: PartnerActor, messageId: string, query: AttemptFilters): Promise<Page<z.infer<typeof AttemptRecord>>> {
  const message = await partnerMessage(db, actor, messageId);
  return mapPage(await pageAttempts(db, { messageId: message.id }, query), toAttemptRecord);
}

/** Every attempt of one of the partner's subscriptions, newest first, with the message list's event filters too. */
export async function listSubscriptionAttempts(db: Db, actor: PartnerActor, subscriptionId: string, query: AttemptFilters): Promise<Page<z.infer<typeof AttemptRecord>>> {
  await requirePartnerSubscription(db, actor.principal.partnerId, subscriptionId);
  return mapPage(await pageAttempts(db, { subscriptionId }, query), toAttemptRecord);
}

/** One message with the payload it carries (as the receiver gets it) and every attempt. */
export async function getMessage(db: Db, actor: PartnerActor, id: string): Promise<z.infer<typeof MessageDetail>> {
  const row = await partnerMessage(db, actor, id);
  const payload = JSON.parse(
    buildPayload(
      { id: row.event_id, installationId: row.installation_id, type: row.type, entityId: row.entity_id, occurredAt: row.occurred_at, data: row.data },
      row.created_at,
    ),
  ) as unknown;
  return { ...toMessage(row), payload, attemptLog: await listAttempts(db, row.id) };
}

/** Sends a message again now through the engine's requeue; 409 when it was cancelled with its subscription. */
export async function resendMessage(db: Db, queues: Queues, actor: PartnerActor, id: string): Promise<string> {
  const row = await partnerMessage(db, actor, id);
  const requeued = await requeueMessages(db, queues, oneMessage(row.id));
  if (requeued.length === 0) throw new ConflictError('message_cancelled', 'the message was cancelled with its subscription');
  return row.id;
}

/** Sends again every dead message, and every pending one that has failed, created in [since, until); returns how many. */
export async function recoverMessages(db: Db, queues: Queues, actor: PartnerActor, subscriptionId: string, body: z.infer<typeof RecoverBody>): Promise<number> {
  await requirePartnerSubscription(db, actor.principal.partnerId, subscriptionId);
  const requeued = await requeueMessages(db, queues, messagesToRecover(subscriptionId, body));
  return requeued.length;
}

/** Attempts, success rate and latency of a subscription over a window. */
export async function subscriptionStats(db: Db, actor: PartnerActor, subscriptionId: string, query: z.infer<typeof StatsQuery>): Promise<z.infer<typeof Stats>> {
  await requirePartnerSubscription(db, actor.principal.partnerId, subscriptionId);
  const { attempts, successes, p50, p95 } = await attemptStats(db, subscriptionId, parseDuration(query.window));
  const round = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  return {
    window: query.window,
    attempts,
    successes,
    failures: attempts - successes,
    successRate: attempts === 0 ? null : successes / attempts,
    latencyMs: { p50: round(p50), p95: round(p95) },
  };
}

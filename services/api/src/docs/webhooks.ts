/**
 * The `webhooks` section of the OpenAPI document: what a receiver gets. One entry per event
 * type of the function catalog (its seed: the live catalog is `GET /v1/functions`, and an
 * operator may add types), each with the envelope and the data fields products filter by, and
 * the verification request every new receiver URL answers first. The headers, the signature
 * and the retry schedule are those of the delivery engine (Standard Webhooks).
 */
import { z } from 'zod';
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { formatDuration } from '#shared/duration';
import type { SeedFunction } from '#shared/db/seeds/functions';
import { VERIFICATION_EVENT_TYPE } from '../subscriptions/verify-receiver.ts';

/** What the section is built from. */
export interface WebhookDocsOptions {
  functions: readonly SeedFunction[];
  /** The configured retry schedule: the wait after each failed attempt. */
  retryScheduleMs: readonly number[];
  /** How long a receiver may fail without a success before its subscription is disabled. */
  disableAfterMs: number;
}

const pascal = (dotted: string) =>
  dotted
    .split(/[._-]/)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');

const EXAMPLE_TIME = '2026-01-05T12:00:00.000Z';

const WebhookHeaders = z.object({
  'webhook-id': z.string().meta({
    description: 'The message id (`msg_…`): the same on every retry of the message, so receivers de-duplicate on it.',
    example: 'msg_01jh2m3n4p5q6r7s8t9v0w1x2y',
  }),
  'webhook-timestamp': z.string().meta({ description: 'When this request was signed, in unix seconds.', example: '1767614400' }),
  'webhook-signature': z.string().meta({
    description:
      'Space-separated `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`, one per active secret (two while a rotation overlaps). Verify with the `standardwebhooks` or `svix` libraries.',
    example: 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
  }),
});

const FilterValue = z.union([z.string(), z.number(), z.boolean()]);

const envelope = <T extends z.ZodType>(type: string, data: T, scope: { installationId: z.ZodType; entityId: z.ZodType }) =>
  z.object({
    type: z.literal(type),
    /** When the message was created: the same on every retry, like the body. */
    timestamp: z.iso.datetime().meta({ description: 'When hubhook created the message; the same on every retry.' }),
    data,
    eventId: z.string().meta({ description: 'HUB’s id of the event (for test and verification requests, an `evt_…` id).' }),
    installationId: scope.installationId,
    entityId: scope.entityId,
    occurredAt: z.iso.datetime().meta({ description: 'When the change happened in HUB.' }),
  });

/** The delivery contract in words: signature, answers, retries. */
export function deliveryContract(options: WebhookDocsOptions): string {
  const schedule = options.retryScheduleMs.map(formatDuration).join(', ');
  return [
    'Each delivery is a POST with a JSON body, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).',
    'Any 2xx within the delivery timeout is a success. Anything else (another status, a timeout, a refused connection) is a failure, and the message is tried again',
    `after ${schedule} (the wait after each failed attempt, ±20 % jitter; a 429 or 503 with \`Retry-After\` waits that long instead when it is longer, up to 1 h),`,
    `${options.retryScheduleMs.length + 1} attempts in all. Then the message is dead: it stays in the delivery log, and operators can replay it.`,
    `A subscription whose deliveries fail for ${formatDuration(options.disableAfterMs)} without a success is disabled.`,
    'Redirects are not followed. Receivers should answer fast and de-duplicate on `webhook-id`.',
  ].join(' ');
}

/** Adds one webhook per event type of `functions`, and the verification request, to `registry`. */
export function registerWebhooks(registry: OpenAPIRegistry, options: WebhookDocsOptions): void {
  const contract = deliveryContract(options);
  const responses = {
    '2XX': { description: 'Delivered.' },
    default: { description: 'Not delivered: retried on the schedule above.' },
  };
  const scope = {
    installationId: z.string().meta({ description: 'The InstallationID the event belongs to.', example: 'MSVPAR' }),
    entityId: z.string().nullable().meta({ description: 'The id of the changed entity, when HUB gave one.' }),
  };
  for (const fn of options.functions) {
    if (fn.eventTypes.length === 0) continue;
    const data = z
      .looseObject(Object.fromEntries(fn.filterFields.map((field) => [field, FilterValue.optional()])))
      .meta({
        id: `${pascal(fn.key)}EventData`,
        description: `The data of ${fn.key} events, as HUB sends it. ${fn.filterFields.length > 0 ? `Products may filter these events by ${fn.filterFields.map((f) => `\`${f}\``).join(', ')}.` : ''}`.trim(),
      });
    for (const type of fn.eventTypes) {
      const example = {
        type,
        timestamp: EXAMPLE_TIME,
        data: Object.fromEntries(fn.filterFields.map((field) => [field, `example-${field}`])),
        eventId: 'evt-1',
        installationId: 'MSVPAR',
        entityId: 'est-42',
        occurredAt: EXAMPLE_TIME,
      };
      const schema = envelope(type, data, scope).meta({ id: `${pascal(type)}Event`, description: `${type}: ${fn.name} (${fn.key}).`, example });
      registry.registerWebhook({
        method: 'post',
        path: type,
        operationId: `on${pascal(type)}`,
        summary: `${type} (${fn.key})`,
        description: `${fn.description} ${contract}`,
        tags: ['webhooks'],
        request: { headers: WebhookHeaders, body: { required: true, content: { 'application/json': { schema } } } },
        responses,
      });
    }
  }
  const verification = envelope(
    VERIFICATION_EVENT_TYPE,
    z.object({ challenge: z.string().meta({ description: 'Random; nothing to echo: a 2xx is enough.' }) }),
    { installationId: z.null(), entityId: z.null() },
  ).meta({
    id: 'SubscriptionVerificationEvent',
    description: 'Sent once before a subscription or a new URL is stored.',
    example: {
      type: VERIFICATION_EVENT_TYPE,
      timestamp: EXAMPLE_TIME,
      data: { challenge: 'x2Jk9qL0s8VtY3wZ5aB7cD1eF4gH6iJ8' },
      eventId: 'evt_01jh2m3n4p5q6r7s8t9v0w1x2y',
      installationId: null,
      entityId: null,
      occurredAt: EXAMPLE_TIME,
    },
  });
  registry.registerWebhook({
    method: 'post',
    path: VERIFICATION_EVENT_TYPE,
    operationId: 'onSubscriptionVerification',
    summary: `${VERIFICATION_EVENT_TYPE}: the receiver check`,
    description:
      'Before a subscription (or a new URL) is stored, its receiver gets one request signed with the subscription’s secret, shaped like any delivery. It must answer 2xx within the verification timeout (VERIFY_TIMEOUT_MS), or the create or update is refused with a 422 saying what happened. It is not retried and redirects are not followed.',
    tags: ['webhooks'],
    request: { headers: WebhookHeaders, body: { required: true, content: { 'application/json': { schema: verification } } } },
    responses: { '2XX': { description: 'The receiver accepts: the subscription is stored.' }, default: { description: 'Refused: the API answers 422.' } },
  });
}

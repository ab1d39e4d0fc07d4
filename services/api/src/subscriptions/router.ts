import { createSecretBox } from '#shared/secret-box';
import { requireSecretsKey } from '#shared/secrets-key';
import { receiverPolicy } from '#shared/receiver-guard';
import { created, type ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { pageOf } from '../http/pagination.ts';
import {
  CreatedSubscription,
  CreateSubscriptionBody,
  ListSubscriptionsQuery,
  ProductParams,
  RotatedSecret,
  Subscription,
  SubscriptionParams,
  TestMessage,
  UpdateSubscriptionBody,
} from './schema.ts';
import * as service from './service.ts';

const tags = ['subscriptions'];
const NO_SUBSCRIPTION = 'no such subscription (or another partner’s)';

/** The partner routes of push subscriptions. */
export function registerSubscriptionRoutes(api: ApiRoutes, deps: AppDeps): void {
  // Built once at start: a missing or malformed SECRETS_KEY stops the api here, naming it.
  const svc: service.SubscriptionDeps = {
    db: deps.db,
    queues: deps.queues,
    box: createSecretBox(requireSecretsKey(deps.config)),
    policy: receiverPolicy(deps.config),
    verifyTimeoutMs: deps.config.verifyTimeoutMs,
  };

  api.add({
    method: 'post',
    path: '/v1/products/:productId/subscriptions',
    operationId: 'createSubscription',
    auth: ['partner'],
    summary: 'Subscribe a receiver URL to a pushable function of the product; the receiver must answer a signed verification request with 2xx first',
    tags,
    params: ProductParams,
    body: CreateSubscriptionBody,
    responses: {
      201: CreatedSubscription,
      404: 'no such product (or another partner’s)',
      409: '`subscription_limit_reached`: a product has at most 50 subscriptions',
      422: 'the function cannot be subscribed to (`unknown_function`, `not_pushable`, `function_not_granted`), an event type it does not emit, or the URL is refused (`invalid_url`, `forbidden_address`) or did not answer the verification request (`receiver_unreachable`)',
    },
    handler: async ({ actor, params, body }) => {
      const made = await service.createSubscription(svc, actor, params.productId, body);
      return created(`/v1/subscriptions/${made.id}`, made);
    },
  });

  api.add({
    method: 'get',
    path: '/v1/products/:productId/subscriptions',
    operationId: 'listSubscriptions',
    auth: ['partner'],
    summary: "The product's subscriptions",
    tags,
    params: ProductParams,
    query: ListSubscriptionsQuery,
    responses: { 200: pageOf(Subscription), 404: 'no such product (or another partner’s)' },
    handler: async ({ actor, params, query }) => ({
      status: 200,
      body: await service.listSubscriptions(svc, actor, params.productId, query),
    }),
  });

  api.add({
    method: 'get',
    path: '/v1/subscriptions/:subscriptionId',
    operationId: 'getSubscription',
    auth: ['partner'],
    summary: 'One subscription (never its secret)',
    tags,
    params: SubscriptionParams,
    responses: { 200: Subscription, 404: NO_SUBSCRIPTION },
    handler: async ({ actor, params }) => ({ status: 200, body: await service.getSubscription(svc, actor, params.subscriptionId) }),
  });

  api.add({
    method: 'patch',
    path: '/v1/subscriptions/:subscriptionId',
    operationId: 'updateSubscription',
    auth: ['partner'],
    summary: 'Change url, event types, description or rate limit (at most the operator\'s); a new url is verified again',
    tags,
    params: SubscriptionParams,
    body: UpdateSubscriptionBody,
    responses: { 200: Subscription, 404: NO_SUBSCRIPTION, 422: 'an event type the function does not emit, or the new URL is refused or did not answer the verification request' },
    handler: async ({ actor, params, body }) => ({
      status: 200,
      body: await service.updateSubscription(svc, actor, params.subscriptionId, body),
    }),
  });

  api.add({
    method: 'delete',
    path: '/v1/subscriptions/:subscriptionId',
    operationId: 'deleteSubscription',
    auth: ['partner'],
    summary: 'Delete the subscription; its pending and held messages are cancelled',
    tags,
    params: SubscriptionParams,
    responses: { 204: 'deleted', 404: NO_SUBSCRIPTION },
    handler: async ({ actor, params }) => {
      await service.deleteSubscription(svc, actor, params.subscriptionId);
      return { status: 204 };
    },
  });

  api.add({
    method: 'post',
    path: '/v1/subscriptions/:subscriptionId/pause',
    operationId: 'pauseSubscription',
    auth: ['partner'],
    summary: 'Pause delivery: messages wait, nothing is dropped (a paused one stays paused; 409 when disabled)',
    tags,
    params: SubscriptionParams,
    responses: { 200: Subscription, 404: NO_SUBSCRIPTION, 409: '`subscription_disabled`: operators re-enable it' },
    handler: async ({ actor, params }) => ({ status: 200, body: await service.pauseSubscription(svc, actor, params.subscriptionId) }),
  });

  api.add({
    method: 'post',
    path: '/v1/subscriptions/:subscriptionId/resume',
    operationId: 'resumeSubscription',
    auth: ['partner'],
    summary: 'Resume a paused subscription; waiting messages are delivered (an active one stays active; 409 when disabled: operators re-enable)',
    tags,
    params: SubscriptionParams,
    responses: { 200: Subscription, 404: NO_SUBSCRIPTION, 409: '`subscription_disabled`: operators re-enable it' },
    handler: async ({ actor, params }) => ({ status: 200, body: await service.resumeSubscription(svc, actor, params.subscriptionId) }),
  });

  api.add({
    method: 'post',
    path: '/v1/subscriptions/:subscriptionId/rotate-secret',
    operationId: 'rotateSubscriptionSecret',
    auth: ['partner'],
    summary: 'Make a new signing secret (shown once); the previous one keeps signing for 24 h',
    tags,
    params: SubscriptionParams,
    responses: { 200: RotatedSecret, 404: NO_SUBSCRIPTION },
    handler: async ({ actor, params }) => ({ status: 200, body: await service.rotateSecret(svc, actor, params.subscriptionId) }),
  });

  api.add({
    method: 'post',
    path: '/v1/subscriptions/:subscriptionId/test',
    operationId: 'sendTestMessage',
    auth: ['partner'],
    summary: 'Send an example event of the function to this subscription, through the normal delivery path',
    tags,
    params: SubscriptionParams,
    responses: { 202: TestMessage, 404: NO_SUBSCRIPTION, 409: '`subscription_disabled`: operators re-enable it' },
    handler: async ({ actor, params }) => ({ status: 202, body: await service.sendTestMessage(svc, actor, params.subscriptionId) }),
  });
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { createPartner, PUSHABLE, pushSetup, type TestPartner } from '../support/fixtures.ts';
import { eventually } from '../support/poll.ts';
import { prune } from '#worker/maintenance/prune';
import type { Job } from 'bullmq';

/**
 * The API's conventions, through the real app: Idempotency-Key, 405 with Allow, unknown query
 * parameters and body fields, the request id in error bodies, Location on 201, and the create
 * answer's shape.
 */
let ctx: TestContext;
let receiver: TestReceiver;
let push: TestPartner & { productId: string };
let other: TestPartner & { productId: string };
let portal: TestPartner;

beforeAll(async () => {
  ctx = await startTestContext();
  receiver = await startReceiver();
  push = await pushSetup(ctx.db);
  other = await pushSetup(ctx.db);
  portal = await createPartner(ctx);
});
afterAll(async () => {
  await receiver.close();
  await ctx.stop();
});

const createSubscription = (token: string, productId: string, body: Record<string, unknown>, key?: string) =>
  ctx.request('POST', `/v1/products/${productId}/subscriptions`, { token, body, headers: key ? { 'idempotency-key': key } : {} });

describe('Idempotency-Key', () => {
  it('a retried create subscription makes one subscription and replays the same answer', async () => {
    const body = { functionKey: PUSHABLE, url: receiver.url, description: 'idempotent' };
    const first = await createSubscription(push.apiKey, push.productId, body, 'retry-create-1');
    expect(first.status, first.text).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const verifications = receiver.requests.length;

    // The same body with its keys in another order is the same request.
    const again = await createSubscription(push.apiKey, push.productId, { description: 'idempotent', url: receiver.url, functionKey: PUSHABLE }, 'retry-create-1');
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.secret).toBe(first.body.secret);
    expect(again.headers.get('location')).toBe(`/v1/subscriptions/${first.body.id}`);
    // Done once: one row, and the receiver was not asked to verify a second time.
    expect(await ctx.db('subscriptions').where({ product_id: push.productId, description: 'idempotent' }).count({ n: '*' }).first()).toEqual({ n: 1 });
    expect(receiver.requests.length).toBe(verifications);
    // The stored answer holds a one-time secret: it is sealed, never plain.
    const row = await ctx.db('idempotency_keys').where({ key: 'retry-create-1' }).first();
    expect(row.status).toBe(201);
    expect(row.reply_sealed).toMatch(/^v1:/);
    expect(row.reply_sealed).not.toContain(first.body.secret);
  });

  it('the same key with a different body is 422, and another partner may use the same key', async () => {
    const body = { functionKey: PUSHABLE, url: receiver.url, description: 'first use' };
    expect((await createSubscription(push.apiKey, push.productId, body, 'shared-key')).status).toBe(201);
    const changed = await createSubscription(push.apiKey, push.productId, { ...body, description: 'changed' }, 'shared-key');
    expect(changed.status).toBe(422);
    expect(changed.body.error.code).toBe('idempotency_key_reused');
    expect(changed.body.error.details[0].path).toBe('headers.idempotency-key');

    // Another tenant's key of the same text is its own: a fresh create, nothing replayed or leaked.
    const theirs = await createSubscription(other.apiKey, other.productId, body, 'shared-key');
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect(theirs.body.productId).toBe(other.productId);
  });

  it('a retried POST credentials uses one key slot and returns the same key', async () => {
    const product = await ctx.request('POST', '/v1/products', { token: portal.apiKey, body: { name: 'Idempotent Keys', type: 'rights' } });
    expect(product.status).toBe(201);
    const path = `/v1/products/${product.body.id}/credentials`;
    const first = await ctx.request('POST', path, { token: portal.apiKey, headers: { 'idempotency-key': 'cred-1' } });
    const second = await ctx.request('POST', path, { token: portal.apiKey, headers: { 'idempotency-key': 'cred-1' } });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body.accessKey).toBe(first.body.accessKey);
    expect(second.body.keyId).toBe(first.body.keyId);
    const shown = await ctx.request('GET', `/v1/products/${product.body.id}`, { token: portal.apiKey });
    expect(shown.body.credentials.map((c: { keyId: string }) => c.keyId)).toEqual([first.body.keyId]);
    // The second slot is still free: a new key (no Idempotency-Key) is accepted.
    expect((await ctx.request('POST', path, { token: portal.apiKey })).status).toBe(201);
  });

  it('a duplicate while the first request still runs is 409 with Retry-After, then the answer is replayed', async () => {
    // The receiver holds the verification request until the test releases it.
    const releases: (() => void)[] = [];
    const slow = await startReceiver();
    slow.behave(() => new Promise((resolve) => releases.push(() => resolve({ status: 200, body: 'ok' }))));
    try {
      const body = { functionKey: PUSHABLE, url: slow.url };
      const first = createSubscription(push.apiKey, push.productId, body, 'in-flight');
      await eventually(() => releases.length > 0, 'the verification request to arrive');
      const during = await createSubscription(push.apiKey, push.productId, body, 'in-flight');
      expect(during.status).toBe(409);
      expect(during.body.error.code).toBe('idempotency_key_in_use');
      expect(during.headers.get('retry-after')).toBe('1');
      releases[0]!();
      const done = await first;
      expect(done.status).toBe(201);
      const after = await createSubscription(push.apiKey, push.productId, body, 'in-flight');
      expect(after.headers.get('idempotent-replayed')).toBe('true');
      expect(after.body.id).toBe(done.body.id);
    } finally {
      await slow.close();
    }
  });

  it('expired keys are deleted by the maintenance prune job, and the key may then be used afresh', async () => {
    const body = { functionKey: PUSHABLE, url: receiver.url, description: 'expiring' };
    const first = await createSubscription(push.apiKey, push.productId, body, 'expiring-key');
    expect(first.status).toBe(201);
    await ctx.db('idempotency_keys').where({ key: 'expiring-key' }).update({ expires_at: ctx.db.raw("now() - interval '1 second'") });
    const live = await createSubscription(push.apiKey, push.productId, { ...body, description: 'kept' }, 'kept-key');
    expect(live.status).toBe(201);

    await prune({}, { job: {} as Job, log: ctx.logger, deps: { db: ctx.db, config: ctx.config } as Parameters<typeof prune>[1]['deps'] });
    expect(await ctx.db('idempotency_keys').whereIn('key', ['expiring-key', 'kept-key']).pluck('key')).toEqual(['kept-key']);
    // Past its 24 hours the key is new again: the request runs.
    const again = await createSubscription(push.apiKey, push.productId, body, 'expiring-key');
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBeNull();
    expect(again.body.id).not.toBe(first.body.id);
  });

  it('keeps 4xx answers but not 5xx ones, and refuses a malformed key', async () => {
    // A refusal the caller cannot fix by retrying is replayed: the same 404.
    const missing = '/v1/products/prd_00000000000000000000/subscriptions';
    const body = { functionKey: PUSHABLE, url: receiver.url };
    const a = await ctx.request('POST', missing, { token: push.apiKey, body, headers: { 'idempotency-key': 'four-oh-four' } });
    const b = await ctx.request('POST', missing, { token: push.apiKey, body, headers: { 'idempotency-key': 'four-oh-four' } });
    expect([a.status, b.status]).toEqual([404, 404]);
    expect(b.headers.get('idempotent-replayed')).toBe('true');

    // A 5xx is not kept: the client may retry with the same key and the request runs again.
    await ctx.db.raw('alter table ?? rename to ??', ['audit_log', 'audit_log_away']);
    let failed;
    try {
      failed = await ctx.request('POST', '/v1/products', { token: portal.apiKey, body: { name: 'After A Fault', type: 'rights' }, headers: { 'idempotency-key': 'after-500' } });
    } finally {
      await ctx.db.raw('alter table ?? rename to ??', ['audit_log_away', 'audit_log']);
    }
    expect(failed.status).toBe(500);
    expect(await ctx.db('idempotency_keys').where({ key: 'after-500' }).first()).toBeUndefined();
    const retried = await ctx.request('POST', '/v1/products', { token: portal.apiKey, body: { name: 'After A Fault', type: 'rights' }, headers: { 'idempotency-key': 'after-500' } });
    expect(retried.status).toBe(201);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();

    const bad = await createSubscription(push.apiKey, push.productId, body, 'has spaces in it');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('headers.idempotency-key');
  });
});

describe('405 with Allow', () => {
  it('answers a known path asked with the wrong method', async () => {
    const res = await ctx.request('PUT', `/v1/subscriptions/sub_00000000000000000000`, { token: push.apiKey, body: {} });
    expect(res.status).toBe(405);
    expect(res.body.error.code).toBe('method_not_allowed');
    expect(res.headers.get('allow')).toBe('DELETE, GET, HEAD, PATCH');
    expect((await ctx.request('DELETE', '/v1/products', { token: push.apiKey })).headers.get('allow')).toBe('GET, HEAD, POST');
    // OPTIONS names the methods too (express answers it).
    const options = await ctx.request('OPTIONS', '/v1/products');
    expect(options.headers.get('allow')).toBe('GET, HEAD, POST');
    // An unknown path is still a 404.
    const unknown = await ctx.request('GET', '/v1/nothing-here', { token: push.apiKey });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('route_not_found');
  });
});

describe('unknown input', () => {
  it('an unknown query parameter is a 400 naming it', async () => {
    const res = await ctx.request('GET', `/v1/products/${push.productId}/subscriptions?limit=5&sort=desc`, { token: push.apiKey });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ path: 'query.sort', code: 'unknown_field', message: 'not a query parameter of this route' }]);
    // A route with no query at all refuses any.
    const none = await ctx.request('GET', '/v1/me?verbose=1', { token: push.apiKey });
    expect(none.status).toBe(400);
    expect(none.body.error.details[0].path).toBe('query.verbose');
  });

  it('an unknown body field is a 400 naming it, nested ones too, and nothing is made', async () => {
    const res = await createSubscription(push.apiKey, push.productId, { functionKey: PUSHABLE, url: receiver.url, eventType: 'estate.created' });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('body.eventType');
    expect(res.body.error.details).toEqual([{ path: 'body.eventType', code: 'unknown_field', message: 'not a field of this route' }]);
    const nested = await ctx.request('POST', '/v1/hub/events', {
      token: HUB_TOKEN,
      body: { events: [{ id: 'evt-unknown-field', installationId: 'MSVPAR', type: 'estate.updated', occurredAt: '2026-01-01T00:00:00Z', data: { free: 'form' }, colour: 'red' }] },
    });
    expect(nested.status).toBe(400);
    expect(nested.body.error.details.map((d: { path: string }) => d.path)).toEqual(['body.events.0.colour']);
    // A route that takes no body refuses fields sent to it.
    const noBody = await ctx.request('POST', `/v1/products/${push.productId}/credentials`, { token: push.apiKey, body: { name: 'x' } });
    expect(noBody.status).toBe(400);
    expect(noBody.body.error.details[0].path).toBe('body.name');
  });
});

describe('error bodies and create answers', () => {
  it('every error body carries the request id the answer is sent with', async () => {
    const given = await ctx.request('GET', '/v1/subscriptions/sub_00000000000000000000', { token: push.apiKey, headers: { 'x-request-id': 'trace-me-42' } });
    expect(given.status).toBe(404);
    expect(given.body.error.requestId).toBe('trace-me-42');
    const made = await ctx.request('GET', '/v1/me');
    expect(made.status).toBe(401);
    expect(made.body.error.requestId).toBe(made.headers.get('x-request-id'));
    expect(made.body.error.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a create answers 201 with Location, the resource at the top level and its one-time secret beside it', async () => {
    const sub = await createSubscription(push.apiKey, push.productId, { functionKey: PUSHABLE, url: receiver.url });
    expect(sub.status).toBe(201);
    expect(sub.headers.get('location')).toBe(`/v1/subscriptions/${sub.body.id}`);
    expect(sub.body).toMatchObject({ id: expect.stringMatching(/^sub_/), status: 'active', secret: expect.stringMatching(/^whsec_/) });
    // The old shape, deprecated, for one version.
    expect(sub.body.subscription).toEqual(Object.fromEntries(Object.entries(sub.body).filter(([k]) => k !== 'secret' && k !== 'subscription')));
    expect(sub.body.state).toBe('active');
    const fetched = await ctx.request('GET', sub.headers.get('location')!, { token: push.apiKey });
    expect(fetched.body.id).toBe(sub.body.id);

    const partner = await ctx.request('POST', '/v1/partners', { token: OPERATOR_TOKEN, body: { name: 'Located AS', contactEmail: 'located@example.com' } });
    expect(partner.status).toBe(201);
    expect(partner.body).toMatchObject({ id: expect.stringMatching(/^ptn_/), name: 'Located AS', apiKey: expect.stringMatching(/^hhk_/) });
    expect(partner.body.partner.id).toBe(partner.body.id);
    const located = await ctx.request('GET', partner.headers.get('location')!, { token: OPERATOR_TOKEN });
    expect(located.status).toBe(200);
    expect(located.body.id).toBe(partner.body.id);

    const installation = await ctx.request('POST', '/v1/installations', { token: OPERATOR_TOKEN, body: { installationId: 'locinst', name: 'Located' } });
    expect(installation.status).toBe(201);
    expect(installation.headers.get('location')).toBe('/v1/installations/LOCINST');
    expect((await ctx.request('GET', '/v1/installations/LOCINST', { token: OPERATOR_TOKEN })).body).toEqual(installation.body);

    const user = await ctx.request('POST', '/v1/users', { token: partner.body.apiKey, body: { email: 'second@located.test' } });
    expect(user.status).toBe(201);
    expect(user.headers.get('location')).toBe(`/v1/users/${user.body.id}`);
    expect(user.body).toMatchObject({ email: 'second@located.test', apiKey: expect.stringMatching(/^hhk_/) });
  });

  it('pausing a queue answers 200 with its state, as pausing a subscription does', async () => {
    const paused = await ctx.request('POST', '/v1/ops/queues/notify/pause', { token: OPERATOR_TOKEN });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ name: 'notify', paused: true });
    const resumed = await ctx.request('POST', '/v1/ops/queues/notify/resume', { token: OPERATOR_TOKEN });
    expect(resumed.body).toMatchObject({ name: 'notify', paused: false });
  });
});

import dns from 'node:dns';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { createSecretBox } from '#shared/secret-box';
import { activeSecrets } from '#shared/delivery/secrets';
import { deliveryJobId } from '#shared/delivery/requeue';
import { sign } from '#shared/signing';
import { newId } from '#shared/ids';
import { OPERATOR_TOKEN, SECRETS_KEY, startTestContext, type TestContext } from '../support/context.ts';
import { closedPort, startReceiver, type ReceiverBehaviour, type TestReceiver } from '../support/receiver.ts';
import { insertPartner, NOT_PUSHABLE, PUSHABLE, PUSHABLE_EVENTS, pushSetup, UNGRANTED } from '../support/fixtures.ts';

// Loopback receivers are admitted by the test env's ALLOW_PRIVATE_RECEIVERS (127.0.0.0/8, ::1).
// The verification timeout is short so the slow-receiver case ends quickly, yet well above what a
// loopback answer takes on a busy machine.
const VERIFY_TIMEOUT_MS = 1000;

let ctx: TestContext;
let partner: Awaited<ReturnType<typeof pushSetup>>;
const receivers: TestReceiver[] = [];
const box = createSecretBox(SECRETS_KEY);

/** A receiver closed after the file; it answers 200 unless `behaviour` says otherwise. */
async function receiver(behaviour?: ReceiverBehaviour): Promise<TestReceiver> {
  const r = await startReceiver();
  receivers.push(r);
  if (behaviour) r.behave(behaviour);
  return r;
}

const create = (body: Record<string, unknown>, token = partner.apiKey, productId = partner.productId) =>
  ctx.request('POST', `/v1/products/${productId}/subscriptions`, { token, body });

async function createOk(url: string, extra: Record<string, unknown> = {}) {
  const res = await create({ functionKey: PUSHABLE, url, ...extra });
  expect(res.status, res.text).toBe(201);
  return res.body as { subscription: { id: string; url: string; eventTypes: string[]; state: string }; secret: string };
}

const liveCount = async () => Number((await ctx.db('subscriptions').where({ product_id: partner.productId }).whereNull('deleted_at').count('* as n').first())?.n);

/** Both public libraries accept the request with this secret. */
function verifiesWith(secret: string, body: string, headers: Record<string, unknown>): void {
  const h = headers as Record<string, string>;
  expect(new Webhook(secret).verify(body, h)).toEqual(JSON.parse(body));
  expect(new SvixWebhook(secret).verify(body, h)).toEqual(JSON.parse(body));
}

beforeAll(async () => {
  ctx = await startTestContext({ env: { VERIFY_TIMEOUT_MS: String(VERIFY_TIMEOUT_MS) } });
  partner = await pushSetup(ctx.db);
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await ctx.stop();
});

describe('creating a subscription verifies the receiver first', () => {
  it('accepts a receiver that answers 2xx: the verification request is signed with the returned secret', async () => {
    const r = await receiver(() => ({ status: 204 }));
    const { subscription, secret } = await createOk(r.url, { description: 'estates to our CRM' });

    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(subscription).toMatchObject({
      id: expect.stringMatching(/^sub_/),
      productId: partner.productId,
      functionKey: PUSHABLE,
      url: r.url,
      eventTypes: PUSHABLE_EVENTS, // default: all the function emits
      description: 'estates to our CRM',
      state: 'active',
      disabledReason: null,
      previousSecretExpiresAt: null,
    });

    expect(r.requests).toHaveLength(1);
    const [got] = r.requests;
    expect(got!.method).toBe('POST');
    expect(got!.headers['content-type']).toBe('application/json');
    const body = JSON.parse(got!.body);
    expect(body).toEqual({
      type: 'subscription.verification',
      timestamp: expect.any(String),
      data: { challenge: expect.stringMatching(/^[A-Za-z0-9_-]{20,}$/) },
      eventId: expect.stringMatching(/^evt_/),
      installationId: null,
      entityId: null,
      occurredAt: expect.any(String),
    });
    expect(got!.headers['webhook-id']).toMatch(/^msg_/);
    verifiesWith(secret, got!.body, got!.headers);

    // At rest the secret is sealed, and it opens to what the partner was given.
    const row = await ctx.db('subscriptions').where({ id: subscription.id }).first();
    expect(row.secret_sealed).not.toContain(secret);
    expect(box.open(row.secret_sealed)).toBe(secret);
    const audit = await ctx.db('audit_log').where({ action: 'subscription.created', target_id: subscription.id }).first();
    expect(audit).toMatchObject({ actor_type: 'partner', partner_id: partner.partnerId });
    expect(JSON.stringify(audit.data)).not.toContain('whsec_');
  });

  it('stores only the event types asked for, de-duplicated', async () => {
    const r = await receiver();
    const { subscription } = await createOk(r.url, { eventTypes: ['estate.updated', 'estate.updated', 'estate.deleted'] });
    expect(subscription.eventTypes).toEqual(['estate.updated', 'estate.deleted']);
  });

  it('refuses a receiver answering 500 with the status and the start of its body, and stores nothing', async () => {
    const r = await receiver(() => ({ status: 500, body: `database exploded\n${'x'.repeat(5000)}` }));
    const before = await liveCount();
    const res = await create({ functionKey: PUSHABLE, url: r.url });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('receiver_unreachable');
    expect(res.body.error.message).toContain('500');
    expect(res.body.error.message).toContain('database exploded');
    expect(res.body.error.details).toEqual([{ path: 'body.url', code: 'http_status', message: expect.stringContaining('answered 500') }]);
    // Only the first bytes are quoted.
    expect(res.body.error.message.length).toBeLessThan(600);
    expect(r.requests).toHaveLength(1);
    expect(await liveCount()).toBe(before);
  });

  it('refuses a 4xx the same way', async () => {
    const r = await receiver(() => ({ status: 401, body: '{"error":"bad signature"}' }));
    const res = await create({ functionKey: PUSHABLE, url: r.url });
    expect(res.status).toBe(422);
    expect(res.body.error.details[0]).toMatchObject({ code: 'http_status', message: expect.stringContaining('401') });
    expect(res.body.error.message).toContain('bad signature');
  });

  it('refuses a receiver slower than VERIFY_TIMEOUT_MS, saying so', async () => {
    // Answers, but only long after the verification gave up.
    const r = await receiver(() => new Promise((resolve) => setTimeout(() => resolve({ status: 200, body: 'too late' }), VERIFY_TIMEOUT_MS * 5).unref()));
    const before = await liveCount();
    const res = await create({ functionKey: PUSHABLE, url: r.url });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('receiver_unreachable');
    expect(res.body.error.details[0]).toMatchObject({ path: 'body.url', code: 'timeout' });
    expect(res.body.error.message).toContain(`${VERIFY_TIMEOUT_MS} ms`);
    expect(r.requests).toHaveLength(1);
    expect(await liveCount()).toBe(before);
  });

  it('refuses a receiver whose port refuses the connection', async () => {
    const port = await closedPort();
    const res = await create({ functionKey: PUSHABLE, url: `http://127.0.0.1:${port}/hooks` });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('receiver_unreachable');
    expect(res.body.error.details[0]).toMatchObject({ path: 'body.url', code: 'refused', message: expect.stringContaining('refused') });
  });

  it('does not follow a redirect: refused, saying it redirected, and the target is never hit', async () => {
    const target = await receiver();
    const redirecting = await receiver(() => ({ status: 302, headers: { location: target.url } }));
    const res = await create({ functionKey: PUSHABLE, url: redirecting.url });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('receiver_unreachable');
    expect(res.body.error.details[0]).toMatchObject({ path: 'body.url', code: 'redirect' });
    expect(res.body.error.message).toContain('302');
    expect(res.body.error.message).toContain(target.url);
    expect(redirecting.requests).toHaveLength(1);
    expect(target.requests).toHaveLength(0);
  });

  it('refuses https to a server that does not speak TLS, naming the TLS failure', async () => {
    const r = await receiver();
    const res = await create({ functionKey: PUSHABLE, url: `https://127.0.0.1:${r.port}/hooks` });
    expect(res.status).toBe(422);
    expect(res.body.error.details[0]).toMatchObject({ path: 'body.url', code: 'tls', message: expect.stringContaining('TLS') });
  });

  // The transport sends through undici's Agent.dispatch on its own sockets, which nock 14 (it
  // patches http.ClientRequest and fetch) does not see. DNS failures are shown instead with the
  // resolver the guard calls stubbed to fail, and with a name that can never resolve.
  it('refuses a receiver whose name does not resolve (stubbed resolver: ENOTFOUND)', async () => {
    const realLookup = dns.lookup;
    const spy = vi.spyOn(dns, 'lookup').mockImplementation(((hostname: string, options: unknown, callback: (...args: unknown[]) => void) => {
      if (hostname !== 'hooks.gone-partner.example') return (realLookup as (...args: unknown[]) => void).call(dns, hostname, options, callback);
      const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname });
      process.nextTick(() => callback(err, []));
    }) as never);
    const res = await create({ functionKey: PUSHABLE, url: 'https://hooks.gone-partner.example/webhooks' });
    expect(spy).toHaveBeenCalledWith('hooks.gone-partner.example', expect.anything(), expect.any(Function));
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('receiver_unreachable');
    expect(res.body.error.details[0]).toMatchObject({ path: 'body.url', code: 'dns', message: expect.stringContaining('hooks.gone-partner.example') });
    expect(res.body.error.message).toContain('DNS');
  });

  it('refuses a receiver under .invalid (RFC 6761: never resolves) as a DNS failure', async () => {
    const res = await create({ functionKey: PUSHABLE, url: 'http://receiver.invalid/hooks' });
    expect(res.status).toBe(422);
    expect(res.body.error.details[0]).toMatchObject({ path: 'body.url', code: 'dns' });
  });
});

describe('bad input is a 4xx naming the field, and no receiver is reached', () => {
  let r: TestReceiver;
  beforeAll(async () => {
    r = await receiver();
  });

  it.each([
    ['an unknown function', { functionKey: 'no.such.function' }, 422, 'unknown_function', 'body.functionKey'],
    ['a function that is not pushable', { functionKey: NOT_PUSHABLE }, 422, 'not_pushable', 'body.functionKey'],
    ["a function the latest version does not grant (an older one did)", { functionKey: UNGRANTED }, 422, 'function_not_granted', 'body.functionKey'],
    ['an event type the function does not emit', { eventTypes: ['estate.created', 'contact.created'] }, 422, 'unknown_event_type', 'body.eventTypes.1'],
    ['an empty event type list', { eventTypes: [] }, 400, 'validation_failed', 'body.eventTypes'],
    ['a malformed URL', { url: 'not a url' }, 422, 'invalid_url', 'body.url'],
    ['a relative URL', { url: '/hooks' }, 422, 'invalid_url', 'body.url'],
    ['an ftp URL', { url: 'ftp://example.com/hooks' }, 422, 'invalid_url', 'body.url'],
    ['a file URL', { url: 'file:///etc/passwd' }, 422, 'invalid_url', 'body.url'],
    ['a URL with credentials', { url: 'http://user:pass@127.0.0.1/hooks' }, 422, 'invalid_url', 'body.url'],
    ['a URL longer than 2 KiB', { url: `http://127.0.0.1/${'a'.repeat(2100)}` }, 422, 'invalid_url', 'body.url'],
    ['a URL that is not a string', { url: 42 }, 400, 'validation_failed', 'body.url'],
    ['a description over 500 characters', { description: 'd'.repeat(501) }, 400, 'validation_failed', 'body.description'],
    ['no functionKey', { functionKey: undefined }, 400, 'validation_failed', 'body.functionKey'],
  ])('%s', async (_what, change, status, code, path) => {
    const res = await create({ functionKey: PUSHABLE, url: `${r.url}?case=1`, ...change });
    expect(res.status, res.text).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    expect(r.requests).toHaveLength(0);
  });

  it('names the URL rule that failed in the details', async () => {
    const res = await create({ functionKey: PUSHABLE, url: 'http://user:pass@127.0.0.1/hooks' });
    expect(res.body.error.details[0]).toEqual({ path: 'body.url', code: 'credentials_in_url', message: expect.any(String) });
    expect(r.requests).toHaveLength(0);
  });

  it("answers 404 for another partner's product and for a malformed product id", async () => {
    const other = await insertPartner(ctx.db);
    expect((await create({ functionKey: PUSHABLE, url: r.url }, other.apiKey)).status).toBe(404);
    expect((await create({ functionKey: PUSHABLE, url: r.url }, partner.apiKey, 'prd_nope')).status).toBe(404);
    expect((await create({ functionKey: PUSHABLE, url: r.url }, partner.apiKey, newId('product'))).status).toBe(404);
    expect(r.requests).toHaveLength(0);
  });

  it('answers 401 without a token and 403 for an operator token', async () => {
    expect((await ctx.request('POST', `/v1/products/${partner.productId}/subscriptions`, { body: {} })).status).toBe(401);
    expect((await create({ functionKey: PUSHABLE, url: r.url }, OPERATOR_TOKEN)).status).toBe(403);
    expect(r.requests).toHaveLength(0);
  });
});

describe('at most 50 subscriptions per product', () => {
  it('refuses the 51st with 409 before the receiver is contacted; deleting one makes room', async () => {
    const p = await pushSetup(ctx.db);
    const rows = Array.from({ length: 50 }, () => ({
      id: newId('subscription'),
      partner_id: p.partnerId,
      product_id: p.productId,
      function_key: PUSHABLE,
      url: 'https://hooks.example.com/x',
      event_types: PUSHABLE_EVENTS,
      secret_sealed: box.seal('whsec_placeholder'),
    }));
    await ctx.db('subscriptions').insert(rows);
    const r = await receiver();
    const full = await create({ functionKey: PUSHABLE, url: r.url }, p.apiKey, p.productId);
    expect(full.status).toBe(409);
    expect(full.body.error.code).toBe('subscription_limit_reached');
    expect(r.requests).toHaveLength(0);

    expect((await ctx.request('DELETE', `/v1/subscriptions/${rows[0]!.id}`, { token: p.apiKey })).status).toBe(204);
    expect((await create({ functionKey: PUSHABLE, url: r.url }, p.apiKey, p.productId)).status).toBe(201);
  });
});

describe('reading and changing subscriptions', () => {
  it('lists the product subscriptions with cursor pagination, never with a secret', async () => {
    const p = await pushSetup(ctx.db);
    const r = await receiver();
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await create({ functionKey: PUSHABLE, url: `${r.url}/${i}` }, p.apiKey, p.productId);
      made.push(res.body.subscription.id);
    }
    const first = await ctx.request('GET', `/v1/products/${p.productId}/subscriptions?limit=2`, { token: p.apiKey });
    expect(first.status).toBe(200);
    expect(first.body.data.map((s: { id: string }) => s.id)).toEqual(made.slice(0, 2));
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await ctx.request('GET', `/v1/products/${p.productId}/subscriptions?limit=2&cursor=${first.body.nextCursor}`, { token: p.apiKey });
    expect(second.body.data.map((s: { id: string }) => s.id)).toEqual(made.slice(2));
    expect(second.body.nextCursor).toBeNull();
    const one = await ctx.request('GET', `/v1/subscriptions/${made[0]}`, { token: p.apiKey });
    expect(one.status).toBe(200);
    expect(one.body.id).toBe(made[0]);
    for (const text of [first.text, second.text, one.text]) {
      expect(text).not.toContain('whsec_');
      expect(text).not.toMatch(/secret_sealed|secretSealed|"secret"/);
    }
  });

  it('changes description and event types without contacting the receiver', async () => {
    const r = await receiver();
    const { subscription } = await createOk(r.url);
    const res = await ctx.request('PATCH', `/v1/subscriptions/${subscription.id}`, {
      token: partner.apiKey,
      body: { description: 'only deletions', eventTypes: ['estate.deleted'] },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ description: 'only deletions', eventTypes: ['estate.deleted'], url: r.url });
    expect(r.requests).toHaveLength(1); // the creation's verification only

    const bad = await ctx.request('PATCH', `/v1/subscriptions/${subscription.id}`, { token: partner.apiKey, body: { eventTypes: ['estate.sold'] } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details[0].path).toBe('body.eventTypes.0');
    const empty = await ctx.request('PATCH', `/v1/subscriptions/${subscription.id}`, { token: partner.apiKey, body: {} });
    expect(empty.status).toBe(400);
  });

  it('verifies a new URL again, signed with the current secret, and keeps the old URL when that fails', async () => {
    const r1 = await receiver();
    const { subscription, secret } = await createOk(r1.url);
    const r2 = await receiver();
    const moved = await ctx.request('PATCH', `/v1/subscriptions/${subscription.id}`, { token: partner.apiKey, body: { url: r2.url } });
    expect(moved.status).toBe(200);
    expect(moved.body.url).toBe(r2.url);
    expect(r2.requests).toHaveLength(1);
    verifiesWith(secret, r2.requests[0]!.body, r2.requests[0]!.headers);

    const failing = await receiver(() => ({ status: 503, body: 'maintenance' }));
    const refused = await ctx.request('PATCH', `/v1/subscriptions/${subscription.id}`, { token: partner.apiKey, body: { url: failing.url } });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('receiver_unreachable');
    expect(refused.body.error.message).toContain('503');
    const still = await ctx.request('GET', `/v1/subscriptions/${subscription.id}`, { token: partner.apiKey });
    expect(still.body.url).toBe(r2.url);

    // The same URL again is no change: no verification.
    const same = await ctx.request('PATCH', `/v1/subscriptions/${subscription.id}`, { token: partner.apiKey, body: { url: r2.url } });
    expect(same.status).toBe(200);
    expect(r2.requests).toHaveLength(1);
  });

  it('deletes softly and cancels pending and held messages in the same transaction', async () => {
    const r = await receiver();
    const { subscription } = await createOk(r.url);
    const statuses = ['pending', 'held', 'succeeded', 'dead'] as const;
    const messageIds: Record<string, string> = {};
    for (const status of statuses) {
      const eventId = newId('event');
      await ctx.db('events').insert({ id: eventId, installation_id: 'MSVPAR', type: 'estate.updated', occurred_at: new Date(), data: '{}' });
      messageIds[status] = newId('message');
      await ctx.db('messages').insert({ id: messageIds[status], event_id: eventId, subscription_id: subscription.id, status });
    }
    const res = await ctx.request('DELETE', `/v1/subscriptions/${subscription.id}`, { token: partner.apiKey });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    const after = Object.fromEntries(
      (await ctx.db('messages').where({ subscription_id: subscription.id }).select('id', 'status')).map((m: { id: string; status: string }) => [m.id, m.status]),
    );
    expect(after).toEqual({
      [messageIds.pending!]: 'cancelled',
      [messageIds.held!]: 'cancelled',
      [messageIds.succeeded!]: 'succeeded',
      [messageIds.dead!]: 'dead',
    });
    const row = await ctx.db('subscriptions').where({ id: subscription.id }).first();
    expect(row.deleted_at).toBeInstanceOf(Date);
    expect((await ctx.request('GET', `/v1/subscriptions/${subscription.id}`, { token: partner.apiKey })).status).toBe(404);
    expect((await ctx.request('DELETE', `/v1/subscriptions/${subscription.id}`, { token: partner.apiKey })).status).toBe(404);
    const list = await ctx.request('GET', `/v1/products/${partner.productId}/subscriptions?limit=500`, { token: partner.apiKey });
    expect(list.body.data.map((s: { id: string }) => s.id)).not.toContain(subscription.id);
  });
});

describe('pause and resume', () => {
  it('pauses (idempotently), and resume releases held messages to the delivery queue', async () => {
    const r = await receiver();
    const { subscription } = await createOk(r.url);
    const path = `/v1/subscriptions/${subscription.id}`;
    const paused = await ctx.request('POST', `${path}/pause`, { token: partner.apiKey });
    expect(paused.status).toBe(200);
    expect(paused.body.state).toBe('paused');
    expect((await ctx.request('POST', `${path}/pause`, { token: partner.apiKey })).body.state).toBe('paused');
    expect(await ctx.db('audit_log').where({ action: 'subscription.paused', target_id: subscription.id }).count('* as n').first()).toEqual({ n: 1 });

    // While paused, a test message waits (held) and no job is queued for it.
    const test = await ctx.request('POST', `${path}/test`, { token: partner.apiKey });
    expect(test.status).toBe(202);
    expect((await ctx.db('messages').where({ id: test.body.messageId }).first()).status).toBe('held');
    expect(await ctx.queues.forSubscription('deliver', subscription.id).getJob(deliveryJobId(test.body.messageId, 0))).toBeUndefined();

    const resumed = await ctx.request('POST', `${path}/resume`, { token: partner.apiKey });
    expect(resumed.status).toBe(200);
    expect(resumed.body.state).toBe('active');
    const message = await ctx.db('messages').where({ id: test.body.messageId }).first();
    expect(message.status).toBe('pending');
    expect(message.next_attempt_at).toBeInstanceOf(Date); // due: the job below claims it
    const job = await ctx.queues.forSubscription('deliver', subscription.id).getJob(deliveryJobId(test.body.messageId, 0));
    expect(job?.data).toEqual({ messageIds: [test.body.messageId] });
    // Resuming an active one changes nothing.
    expect((await ctx.request('POST', `${path}/resume`, { token: partner.apiKey })).body.state).toBe('active');
  });

  it('answers 409 for pause and resume of a disabled subscription (operators re-enable)', async () => {
    const r = await receiver();
    const { subscription } = await createOk(r.url);
    await ctx.db('subscriptions').where({ id: subscription.id }).update({ state: 'disabled', disabled_reason: 'receiver answered 410 Gone' });
    for (const verb of ['pause', 'resume', 'test']) {
      const res = await ctx.request('POST', `/v1/subscriptions/${subscription.id}/${verb}`, { token: partner.apiKey });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('subscription_disabled');
      expect(res.body.error.message).toContain('410 Gone');
    }
    expect((await ctx.request('GET', `/v1/subscriptions/${subscription.id}`, { token: partner.apiKey })).body).toMatchObject({
      state: 'disabled',
      disabledReason: 'receiver answered 410 Gone',
    });
  });
});

describe('secret rotation', () => {
  it('returns a new secret; both sign for 24 h, verified by standardwebhooks and svix before and during the rotation', async () => {
    const r = await receiver();
    const { subscription, secret: oldSecret } = await createOk(r.url);
    // Before: the verification request carries one signature, by the original secret.
    expect((r.requests[0]!.headers['webhook-signature'] as string).split(' ')).toHaveLength(1);
    verifiesWith(oldSecret, r.requests[0]!.body, r.requests[0]!.headers);

    const res = await ctx.request('POST', `/v1/subscriptions/${subscription.id}/rotate-secret`, { token: partner.apiKey });
    expect(res.status).toBe(200);
    const { secret: newSecret, previousSecretExpiresAt } = res.body;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(oldSecret);
    const overlapMs = Date.parse(previousSecretExpiresAt) - Date.now();
    expect(overlapMs).toBeGreaterThan(23 * 3600_000);
    expect(overlapMs).toBeLessThanOrEqual(24 * 3600_000);
    const shown = await ctx.request('GET', `/v1/subscriptions/${subscription.id}`, { token: partner.apiKey });
    expect(shown.body.previousSecretExpiresAt).toBe(previousSecretExpiresAt);
    expect(shown.text).not.toContain('whsec_');

    // The engine signs with activeSecrets: both, the new one first.
    const row = await ctx.db('subscriptions').where({ id: subscription.id }).first();
    expect(activeSecrets(row, box)).toEqual([newSecret, oldSecret]);
    const body = JSON.stringify({ type: 'estate.updated', data: { id: 'e1' } });
    const headers = sign({ id: newId('message'), timestamp: new Date(), body, secrets: activeSecrets(row, box) });
    verifiesWith(oldSecret, body, headers);
    verifiesWith(newSecret, body, headers);
    // After the overlap only the new one signs.
    expect(activeSecrets(row, box, new Date(Date.parse(previousSecretExpiresAt) + 1))).toEqual([newSecret]);

    // During the rotation a real request (the verification of a new URL) carries both signatures.
    const r2 = await receiver();
    expect((await ctx.request('PATCH', `/v1/subscriptions/${subscription.id}`, { token: partner.apiKey, body: { url: r2.url } })).status).toBe(200);
    expect((r2.requests[0]!.headers['webhook-signature'] as string).split(' ')).toHaveLength(2);
    verifiesWith(oldSecret, r2.requests[0]!.body, r2.requests[0]!.headers);
    verifiesWith(newSecret, r2.requests[0]!.body, r2.requests[0]!.headers);
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(r2.requests[0]!.body, r2.requests[0]!.headers as Record<string, string>)).toThrow();

    // A second rotation drops the oldest: two secrets at most.
    const again = await ctx.request('POST', `/v1/subscriptions/${subscription.id}/rotate-secret`, { token: partner.apiKey });
    const row2 = await ctx.db('subscriptions').where({ id: subscription.id }).first();
    expect(activeSecrets(row2, box)).toEqual([again.body.secret, newSecret]);
    expect(await ctx.db('audit_log').where({ action: 'subscription.secret_rotated', target_id: subscription.id }).count('* as n').first()).toEqual({ n: 2 });
  });
});

describe('test messages', () => {
  it('commits an example event and a pending message, then queues the message for the delivery worker', async () => {
    const r = await receiver();
    const { subscription } = await createOk(r.url, { eventTypes: ['estate.updated'] });
    const res = await ctx.request('POST', `/v1/subscriptions/${subscription.id}/test`, { token: partner.apiKey });
    expect(res.status).toBe(202);
    const { messageId } = res.body;
    expect(messageId).toMatch(/^msg_/);

    const message = await ctx.db('messages').where({ id: messageId }).first();
    expect(message).toMatchObject({ subscription_id: subscription.id, status: 'pending', attempts: 0 });
    const event = await ctx.db('events').where({ id: message.event_id }).first();
    expect(event.id).toMatch(/^evt_/);
    expect(event).toMatchObject({ installation_id: 'MSVPAR', type: 'estate.updated' });
    // Already fanned out: the fan-out must never send it to anyone else.
    expect(event.fanout_at).toBeInstanceOf(Date);
    // Realistic data: the function's filter fields, with the value the product's filter allows.
    expect(event.data).toEqual({ id: event.entity_id, example: true, departmentId: 'dep-42', estateStatus: 'for_sale' });

    expect(message.next_attempt_at).toBeInstanceOf(Date); // due now: the job below claims it
    const job = await ctx.queues.forSubscription('deliver', subscription.id).getJob(deliveryJobId(messageId, 0));
    expect(job?.name).toBe('deliver-messages');
    expect(job?.data).toEqual({ messageIds: [messageId] });
  });
});

describe('tenant isolation', () => {
  it("answers 404 for every route on another partner's subscription, and for malformed ids", async () => {
    const r = await receiver();
    const { subscription } = await createOk(r.url);
    const other = await insertPartner(ctx.db);
    const routes: [string, string, unknown?][] = [
      ['GET', `/v1/subscriptions/${subscription.id}`],
      ['PATCH', `/v1/subscriptions/${subscription.id}`, { description: 'mine now' }],
      ['DELETE', `/v1/subscriptions/${subscription.id}`],
      ['POST', `/v1/subscriptions/${subscription.id}/pause`],
      ['POST', `/v1/subscriptions/${subscription.id}/resume`],
      ['POST', `/v1/subscriptions/${subscription.id}/rotate-secret`],
      ['POST', `/v1/subscriptions/${subscription.id}/test`],
      ['GET', `/v1/products/${partner.productId}/subscriptions`],
      ['POST', `/v1/products/${partner.productId}/subscriptions`, { functionKey: PUSHABLE, url: r.url }],
    ];
    for (const [method, path, body] of routes) {
      const res = await ctx.request(method, path, { token: other.apiKey, body });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    for (const path of ['/v1/subscriptions/sub_x', '/v1/subscriptions/prd_aaaaaaaaaaaaaaaaaaaa', `/v1/subscriptions/${newId('subscription')}`]) {
      expect((await ctx.request('GET', path, { token: partner.apiKey })).status).toBe(404);
    }
    // Nothing changed, and nothing reached the receiver but the creation's verification.
    const row = await ctx.db('subscriptions').where({ id: subscription.id }).first();
    expect(row).toMatchObject({ state: 'active', description: '', deleted_at: null, previous_secret_sealed: null });
    expect(r.requests).toHaveLength(1);
  });
});

/**
 * Tenant isolation, table-driven: every route a partner key may call is listed in PARTNER_ROUTES
 * with how to aim it at partner A's resources using partner B's key. The list of routes comes
 * from the app itself (`api.specs`), so a new partner route that is not in the table fails this
 * test — add one line for it, keyed by `METHOD path` exactly as the route is declared.
 *
 * - `hidden(path, body?)`: the route names one of A's resources; B must get 404 `not_found`
 *   (never 403, so ids cannot be probed). Give a valid body, so validation cannot answer first.
 * - `own(path, body?, status?)`: the route names no resource (lists, creates, `me`); B's answer
 *   must be 2xx (or exactly `status`, where B's own state makes it refuse) and mention none of A's ids.
 * - `shared(path, why)`: data that is the same for every partner (the function catalog).
 *
 * Every route that does not take partner keys must answer a partner key with 403, and every
 * route is refused (403) to the kinds of token it does not list.
 * Afterwards, none of A's rows in any table with a `partner_id` has changed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedFunctions } from '#shared/db/seeds/functions';
import { newId, randomText } from '#shared/ids';
import { createApp } from '#api/app';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { createPartner, createUser, insertActivation, insertProduct, type TestPartner } from '../support/fixtures.ts';

/** Partner A's resources that B's key must not reach. Add what a new route needs. */
interface Victim {
  partner: TestPartner;
  /** A user of A who is not the contact person (deletable, if B could). */
  userId: string;
  legacyGrantId: string;
  /** An active product of A (version 1 granting estates.read), activated in MSVPAR; written directly. */
  productId: string;
  /** An access key of that product, made by A through the credentials route. */
  credentialKeyId: string;
  /** A subscription of A on that product, and one message in its delivery log; written directly. */
  subscriptionId: string;
  messageId: string;
  /** A notice for A (a subscription disabled); written directly. */
  notificationId: string;
  /** The API key of A's contact person. */
  apiKeyId: string;
}

type IsolationCase =
  | { kind: 'hidden'; path: (a: Victim) => string; body?: (a: Victim) => unknown }
  | { kind: 'own'; path: string; body?: () => unknown; status?: number }
  | { kind: 'shared'; path: string; why: string };

const hidden = (path: (a: Victim) => string, body?: (a: Victim) => unknown): IsolationCase => ({ kind: 'hidden', path, body });
const own = (path: string, body?: () => unknown, status?: number): IsolationCase => ({ kind: 'own', path, body, status });
const shared = (path: string, why: string): IsolationCase => ({ kind: 'shared', path, why });

// One line per partner route, keyed by `METHOD path` as declared with api.add.
const PARTNER_ROUTES: Record<string, IsolationCase> = {
  'GET /v1/me': own('/v1/me'),
  'GET /v1/users': own('/v1/users?limit=500'),
  'POST /v1/users': own('/v1/users', () => ({ email: `b-${randomText(8)}@example.com` })),
  'DELETE /v1/users/:userId': hidden((a) => `/v1/users/${a.userId}`),
  'GET /v1/legacy-grants': own('/v1/legacy-grants?limit=500'),
  'GET /v1/functions': shared('/v1/functions', 'the function catalog is the same for every partner'),
  'POST /v1/products/:productId/subscriptions': hidden(
    (a) => `/v1/products/${a.productId}/subscriptions`,
    () => ({ functionKey: 'estates.read', url: 'https://receiver.example.com/b-wants-in' }),
  ),
  'GET /v1/products/:productId/subscriptions': hidden((a) => `/v1/products/${a.productId}/subscriptions`),
  'GET /v1/subscriptions/:subscriptionId': hidden((a) => `/v1/subscriptions/${a.subscriptionId}`),
  'PATCH /v1/subscriptions/:subscriptionId': hidden(
    (a) => `/v1/subscriptions/${a.subscriptionId}`,
    () => ({ url: 'https://receiver.example.com/b-took-it', description: 'mine now' }),
  ),
  'DELETE /v1/subscriptions/:subscriptionId': hidden((a) => `/v1/subscriptions/${a.subscriptionId}`),
  'POST /v1/subscriptions/:subscriptionId/pause': hidden((a) => `/v1/subscriptions/${a.subscriptionId}/pause`),
  'POST /v1/subscriptions/:subscriptionId/resume': hidden((a) => `/v1/subscriptions/${a.subscriptionId}/resume`),
  'POST /v1/subscriptions/:subscriptionId/rotate-secret': hidden((a) => `/v1/subscriptions/${a.subscriptionId}/rotate-secret`),
  'POST /v1/subscriptions/:subscriptionId/test': hidden((a) => `/v1/subscriptions/${a.subscriptionId}/test`),
  // B's key is an API key, not a session: 422 not_a_session, and nothing of A's is touched.
  'POST /v1/auth/sign-out': own('/v1/auth/sign-out', undefined, 422),
  'GET /v1/auth/session': own('/v1/auth/session'),
  // B has no covered grants (A's are covered): 422 nothing_to_clean_up, never A's grants.
  'POST /v1/legacy-grants/clean-up-request': own('/v1/legacy-grants/clean-up-request', () => ({}), 422),
  'GET /v1/subscriptions/:subscriptionId/messages': hidden((a) => `/v1/subscriptions/${a.subscriptionId}/messages`),
  'GET /v1/subscriptions/:subscriptionId/stats': hidden((a) => `/v1/subscriptions/${a.subscriptionId}/stats`),
  'POST /v1/subscriptions/:subscriptionId/recover': hidden(
    (a) => `/v1/subscriptions/${a.subscriptionId}/recover`,
    () => ({ since: new Date(0).toISOString() }),
  ),
  'POST /v1/products': own('/v1/products', () => ({ name: `Partner B ${randomText(8)}`, type: 'rights' })),
  'GET /v1/products': own('/v1/products?limit=500'),
  'GET /v1/products/:productId': hidden((a) => `/v1/products/${a.productId}`),
  'PATCH /v1/products/:productId': hidden((a) => `/v1/products/${a.productId}`, () => ({ description: 'changed by B' })),
  'POST /v1/products/:productId/credentials': hidden((a) => `/v1/products/${a.productId}/credentials`),
  'DELETE /v1/products/:productId/credentials/:keyId': hidden((a) => `/v1/products/${a.productId}/credentials/${a.credentialKeyId}`),
  'POST /v1/products/:productId/versions': hidden((a) => `/v1/products/${a.productId}/versions`),
  'PUT /v1/products/:productId/versions/:version/functions/:functionKey': hidden((a) => `/v1/products/${a.productId}/versions/1/functions/contacts.read`, () => ({})),
  'DELETE /v1/products/:productId/versions/:version/functions/:functionKey': hidden((a) => `/v1/products/${a.productId}/versions/1/functions/estates.read`),
  'POST /v1/products/:productId/versions/:version/activate': hidden((a) => `/v1/products/${a.productId}/versions/1/activate`),
  'GET /v1/messages/:messageId': hidden((a) => `/v1/messages/${a.messageId}`),
  'GET /v1/messages/:messageId/attempts': hidden((a) => `/v1/messages/${a.messageId}/attempts`),
  'GET /v1/subscriptions/:subscriptionId/attempts': hidden((a) => `/v1/subscriptions/${a.subscriptionId}/attempts`),
  'POST /v1/messages/:messageId/resend': hidden((a) => `/v1/messages/${a.messageId}/resend`),
  'GET /v1/notifications': own('/v1/notifications?limit=500'),
  'POST /v1/notifications/read-all': own('/v1/notifications/read-all'),
  'POST /v1/notifications/:notificationId/read': hidden((a) => `/v1/notifications/${a.notificationId}/read`),
  'GET /v1/api-keys': own('/v1/api-keys?limit=500'),
  // B's key is an API key, not a session: 403 session_required (a key cannot mint another).
  'POST /v1/api-keys': own('/v1/api-keys', () => ({ name: 'B wants a key' }), 403),
  'DELETE /v1/api-keys/:keyId': hidden((a) => `/v1/api-keys/${a.apiKeyId}`),
};

const routeKey = (spec: { method: string; path: string }) => `${spec.method.toUpperCase()} ${spec.path}`;
// Any value fills a path parameter when the token is refused before the route looks at it.
const anyPath = (path: string) => path.replace(/:(\w+)/g, 'x');

describe('tenant isolation', () => {
  let ctx: TestContext;
  let specs: { method: string; path: string; auth: readonly string[] }[];
  let a: Victim;
  let b: TestPartner;

  /** Fingerprint of every row of A in every table with a partner_id (and A's partner row). */
  async function fingerprintOf(partnerId: string): Promise<Record<string, string>> {
    const tables = (await ctx.db('information_schema.columns')
      .where({ table_schema: ctx.schema, column_name: 'partner_id' })
      .orderBy('table_name')
      .pluck('table_name')) as string[];
    const prints: Record<string, string> = {};
    for (const table of [...tables, 'partners']) {
      const column = table === 'partners' ? 'id' : 'partner_id';
      const row = await ctx.db.raw(`select count(*)::int as n, md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as h from ?? t where ?? = ?`, [
        table,
        column,
        partnerId,
      ]);
      prints[table] = `${row.rows[0].n}:${row.rows[0].h}`;
    }
    return prints;
  }

  beforeAll(async () => {
    ctx = await startTestContext();
    const { api } = createApp({ config: ctx.config, logger: ctx.logger, db: ctx.db, redis: ctx.redis, queues: ctx.queues });
    specs = api.specs;
    await seedFunctions(ctx.db);

    const partner = await createPartner(ctx, { name: 'Partner A' });
    const user = await createUser(ctx, partner.apiKey);
    const grant = await ctx.request('POST', `/v1/partners/${partner.partnerId}/legacy-grants`, {
      token: OPERATOR_TOKEN,
      body: { installationId: 'MSVPAR', functionKey: 'estates.read' },
    });
    expect(grant.status, grant.text).toBe(201);
    const productId = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [['estates.read']] });
    await insertActivation(ctx.db, 'MSVPAR', productId, 1);
    const subscriptionId = newId('subscription');
    await ctx.db('subscriptions').insert({
      id: subscriptionId,
      partner_id: partner.partnerId,
      product_id: productId,
      function_key: 'estates.read',
      url: 'https://receiver.example.com/hook',
      event_types: ['estate.created'],
      secret_sealed: 'sealed',
    });
    await ctx.db('events').insert({ id: 'hub-event-a', installation_id: 'MSVPAR', type: 'estate.created', occurred_at: new Date(), data: {} });
    const messageId = newId('message');
    await ctx.db('messages').insert({ id: messageId, event_id: 'hub-event-a', subscription_id: subscriptionId, status: 'dead', attempts: 8 });
    const credential = await ctx.request('POST', `/v1/products/${productId}/credentials`, { token: partner.apiKey });
    expect(credential.status, credential.text).toBe(201);
    const notificationId = newId('notification');
    await ctx.db('notifications').insert({
      id: notificationId,
      partner_id: partner.partnerId,
      kind: 'subscription_disabled',
      message: `Subscription ${subscriptionId} was disabled: the receiver answered 410 Gone`,
      data: JSON.stringify({ subscriptionId }),
    });
    const apiKeyId = (await ctx.db('api_keys').where({ user_id: partner.userId }).first('id')).id as string;
    a = {
      partner,
      userId: user.userId,
      legacyGrantId: grant.body.id,
      productId,
      credentialKeyId: credential.body.keyId,
      subscriptionId,
      messageId,
      notificationId,
      apiKeyId,
    };
    b = await createPartner(ctx, { name: 'Partner B' });
  });
  afterAll(async () => {
    await ctx.stop();
  });

  const idsOf = (victim: Victim) => [
    victim.partner.partnerId,
    victim.partner.userId,
    victim.userId,
    victim.legacyGrantId,
    victim.productId,
    victim.credentialKeyId,
    victim.subscriptionId,
    victim.messageId,
    victim.notificationId,
    victim.apiKeyId,
  ];

  it('has a line for every partner route, and none for a route that is gone', () => {
    const partnerRoutes = specs.filter((s) => s.auth.includes('partner')).map(routeKey);
    expect(partnerRoutes.length).toBeGreaterThan(0);
    const missing = partnerRoutes.filter((key) => !(key in PARTNER_ROUTES));
    expect(missing, 'partner routes missing from PARTNER_ROUTES in test/api/tenant-isolation.test.ts').toEqual([]);
    const stale = Object.keys(PARTNER_ROUTES).filter((key) => !partnerRoutes.includes(key));
    expect(stale, 'PARTNER_ROUTES lines for routes that do not exist (or no longer take partner keys)').toEqual([]);
  });

  it('answers partner B 404 for each of partner A’s resources, and shows B nothing of A', async () => {
    const before = await fingerprintOf(a.partner.partnerId);
    const failures: string[] = [];
    for (const [key, entry] of Object.entries(PARTNER_ROUTES)) {
      const method = key.split(' ')[0]!;
      if (entry.kind === 'hidden') {
        const res = await ctx.request(method, entry.path(a), { token: b.apiKey, body: entry.body?.(a) });
        if (res.status !== 404 || res.body?.error?.code !== 'not_found') failures.push(`${key}: ${res.status} ${res.text.slice(0, 200)}`);
      } else {
        const res = await ctx.request(method, entry.path, { token: b.apiKey, body: entry.kind === 'own' ? entry.body?.() : undefined });
        const expected = entry.kind === 'own' && entry.status !== undefined ? res.status === entry.status : res.status >= 200 && res.status <= 299;
        if (!expected) failures.push(`${key}: ${res.status} ${res.text.slice(0, 200)}`);
        const leaked = idsOf(a).filter((id) => res.text.includes(id));
        if (leaked.length > 0) failures.push(`${key}: B's answer shows A's ${leaked.join(', ')}`);
      }
    }
    expect(failures).toEqual([]);
    // Nothing B did touched any of A's rows.
    expect(await fingerprintOf(a.partner.partnerId)).toEqual(before);
    expect((await ctx.request('GET', '/v1/me', { token: a.partner.apiKey })).status).toBe(200);
  });

  it('answers a partner key 403 on every operator and HUB route', async () => {
    const failures: string[] = [];
    const others = specs.filter((s) => !s.auth.includes('partner') && !s.auth.includes('public'));
    expect(others.length).toBeGreaterThan(0);
    for (const spec of others) {
      const res = await ctx.request(spec.method.toUpperCase(), anyPath(spec.path), { token: b.apiKey });
      if (res.status !== 403 || res.body?.error?.code !== 'forbidden') failures.push(`${routeKey(spec)}: ${res.status}`);
    }
    expect(failures).toEqual([]);
  });

  it('answers every route 403 for a kind of token it does not take', async () => {
    const failures: string[] = [];
    const tokens = { operator: OPERATOR_TOKEN, hub: HUB_TOKEN, partner: b.apiKey };
    for (const spec of specs.filter((s) => !s.auth.includes('public'))) {
      for (const [kind, token] of Object.entries(tokens)) {
        if (spec.auth.includes(kind)) continue;
        const res = await ctx.request(spec.method.toUpperCase(), anyPath(spec.path), { token });
        if (res.status !== 403) failures.push(`${routeKey(spec)} with a ${kind} token: ${res.status}`);
      }
    }
    expect(failures).toEqual([]);
  });
});

/**
 * Property-based fuzz of every route: each operation of the app's own OpenAPI document (the
 * route specs; the test fails if a spec is missing from it) is called with near-valid and
 * random path parameters, queries and bodies (made from its JSON schemas by fast-check, with
 * nasty values swapped in), and with every kind of token: none, garbage, operator, HUB, a
 * partner's API key, a session from e-mail sign-in, account and product access keys. No
 * answer may be a 5xx, every request must get an answer (nothing crashed or hung up), and
 * /readyz is still 200 at the end.
 *
 * It prints the seed, the number of requests tried and the count per status. Reproduce a run
 * with FUZZ_SEED=<seed>; FUZZ_ROUNDS=<n> sets the requests per route (default 10).
 *
 * Side effects stay in the file's own schema and queue prefix. Nothing leaves the machine:
 * every URL the fuzz makes is a loopback receiver's, every other name's DNS lookup fails here,
 * and without SMTP_URL mail only goes to the outbox table.
 */
import dns from 'node:dns';
import { request as httpRequest } from 'node:http';
import { isIP } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { seedFunctions } from '#shared/db/seeds/functions';
import { newId, randomText } from '#shared/ids';
import { QUEUE_NAMES } from '#shared/queues/catalog';
import { createApp } from '#api/app';
import { buildOpenApiDocument, documentOptions } from '#api/docs/document';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { createPartner, createUser } from '../support/fixtures.ts';
import { encodeText, nastyString, nearValid, serialize, wireText, type JsonSchema, type KnownValues } from '../support/fuzz.ts';

const ROUNDS = Number(process.env.FUZZ_ROUNDS ?? 10);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

type Parameter = { name: string; in: 'path' | 'query'; schema: JsonSchema };
type Operation = { parameters?: Parameter[]; requestBody?: { content: { 'application/json': { schema: JsonSchema } } } };
type Kind = 'operator' | 'hub' | 'partner' | 'public';

/** One request as the fuzz sends it. */
interface FuzzRequest {
  method: string;
  path: string;
  token: string | undefined;
  body: unknown;
  /** Send the body as this content type instead of JSON (or send raw text as JSON). */
  contentType?: string;
  raw?: string;
}

describe('fuzzing every route', () => {
  let ctx: TestContext;
  let receiver: TestReceiver;
  let routes: { method: string; path: string; auth: readonly string[]; operation: Operation }[];
  let tokens: Record<Kind | 'garbage', string[]>;
  let known: KnownValues;
  let components: Record<string, JsonSchema>;
  const lookups: string[] = [];

  beforeAll(async () => {
    // Only loopback names resolve: a name the fuzz made up must not reach a real resolver.
    const realLookup = dns.lookup as (...args: unknown[]) => void;
    vi.spyOn(dns, 'lookup').mockImplementation(((hostname: string, ...rest: unknown[]) => {
      if (hostname === 'localhost' || isIP(hostname) !== 0) return realLookup.call(dns, hostname, ...rest);
      lookups.push(hostname);
      const callback = rest[rest.length - 1] as (err: Error) => void;
      const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
      process.nextTick(() => callback(err));
    }) as unknown as typeof dns.lookup);

    ctx = await startTestContext({
      env: { RATE_LIMIT_AUTH_PER_CLIENT: '100000/15m', RATE_LIMIT_AUTH_PER_EMAIL: '100000/15m', RATE_LIMIT_APPLICATIONS: '100000/1h', VERIFY_TIMEOUT_MS: '2000' },
    });
    receiver = await startReceiver();
    await seedFunctions(ctx.db);
    const { api } = createApp({ config: ctx.config, logger: ctx.logger, db: ctx.db, redis: ctx.redis, queues: ctx.queues });
    const document = buildOpenApiDocument(api, documentOptions(ctx.config)) as unknown as {
      paths: Record<string, Record<string, Operation>>;
      components?: { schemas?: Record<string, JsonSchema> };
    };
    components = document.components?.schemas ?? {};
    routes = api.specs.map((spec) => ({
      ...spec,
      operation: document.paths[spec.path.replace(/:(\w+)/g, '{$1}')]?.[spec.method] as Operation,
    }));

    // Real rows for the fuzz to aim at, made through the API where it can.
    const partner = await createPartner(ctx, { name: `Fuzz ${randomText(6)}` });
    const user = await createUser(ctx, partner.apiKey);
    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await ctx.request(method, path, { token, body });
      expect(res.status, `${method} ${path}: ${res.text}`).toBeLessThan(300);
      return res.body;
    };
    const product = await call('POST', '/v1/products', partner.apiKey, { name: `Fuzz Map ${randomText(6)}`, type: 'rights' });
    await call('PUT', `/v1/products/${product.id}/versions/1/functions/estates.read`, partner.apiKey, {});
    await call('POST', `/v1/products/${product.id}/versions/1/activate`, partner.apiKey);
    const draft = await call('POST', '/v1/products', partner.apiKey, { name: `Fuzz Draft ${randomText(6)}`, type: 'order_integration' });
    const credential = await call('POST', `/v1/products/${product.id}/credentials`, partner.apiKey);
    await call('POST', `/v1/installations/MSVPAR/products/${product.id}/activate`, HUB_TOKEN);
    const created = await call('POST', `/v1/products/${product.id}/subscriptions`, partner.apiKey, { functionKey: 'estates.read', url: receiver.url });
    const subscriptionId = created.subscription.id as string;
    const grant = await call('POST', `/v1/partners/${partner.partnerId}/legacy-grants`, OPERATOR_TOKEN, { installationId: 'MSVPAR', functionKey: 'contacts.read' });
    const account = await call('POST', `/v1/partners/${partner.partnerId}/account-credentials`, OPERATOR_TOKEN);
    const application = await call('POST', '/v1/applications', '', {
      companyName: `Fuzz Applicant ${randomText(6)}`,
      organisationNumber: '912345678',
      contactName: 'Ola Fuzz',
      contactEmail: `applicant-${randomText(6)}@example.com`,
      purpose: 'fuzzing',
    });
    await call('POST', '/v1/hub/events', HUB_TOKEN, { events: [{ id: 'fuzz-event-1', installationId: 'MSVPAR', type: 'estate.created', occurredAt: new Date().toISOString(), data: {} }] });
    const messageId = newId('message');
    await ctx.db('messages').insert({ id: messageId, event_id: 'fuzz-event-1', subscription_id: subscriptionId, status: 'dead', attempts: 8 });
    await call('POST', '/v1/auth/sign-in', '', { email: partner.email });
    const mail = await ctx.db('mail_outbox').where({ to_address: partner.email, kind: 'sign-in-code' }).orderBy('created_at', 'desc').first();
    const code = /sign-in code is: (\d{8})/.exec(mail?.text_body ?? '')?.[1];
    expect(code, 'the sign-in code in the outbox').toBeDefined();
    const session = await call('POST', '/v1/auth/verify', '', { email: partner.email, code });

    tokens = {
      operator: [OPERATOR_TOKEN],
      hub: [HUB_TOKEN],
      partner: [partner.apiKey, user.apiKey, session.token as string],
      public: [],
      // Tokens no route takes: made up, and keys meant for the access check, not for bearer use.
      garbage: ['garbage', `hhk_${randomText(24)}`, account.accessKey as string, credential.accessKey as string, OPERATOR_TOKEN.slice(0, -1), 'x'.repeat(5000)],
    };
    const ids = [partner.partnerId, partner.userId, user.userId, product.id, draft.id, credential.keyId, subscriptionId, messageId, grant.id, account.id, application.id];
    const any = (...values: unknown[]) => fc.constantFrom(...values);
    known = {
      id: any(...ids),
      productId: any(product.id, draft.id),
      keyId: any(credential.keyId),
      credentialId: any(account.id),
      // Path parameters by the names of the conventions.
      partnerId: any(partner.partnerId),
      userId: any(partner.userId, user.userId),
      messageId: any(messageId),
      grantId: any(grant.id),
      applicationId: any(application.id),
      cleanUpRequestId: any(...ids),
      version: any('1', '2', '0', '-1', '1.5', '99999999999999999999'),
      queueName: any(...QUEUE_NAMES),
      installationId: any('MSVPAR', 'msvpar', ' MSVPAR '),
      installationIds: any('MSVPAR', 'msvpar'),
      functionKey: any('estates.read', 'contacts.read', 'nosuch.function', 'Estates.Read'),
      subscriptionId: any(subscriptionId),
      messageIds: any(messageId),
      eventTypes: any('estate.created', 'estate.updated'),
      type: any('estate.updated', 'rights', 'order_integration'),
      email: any(partner.email, user.email, `new-${randomText(6)}@example.com`),
      contactEmail: any(`c-${randomText(6)}@example.com`, partner.email),
      code: any(code, '00000000', ' 1234 5678 '),
      login: any(credential.login, account.login, 'acct_nosuch'),
      accessKey: any(credential.accessKey, account.accessKey, 'hhp_nosuch'),
      url: fc.constantFrom(receiver.url, `${receiver.url}/x?y=1`, receiver.url.replace('127.0.0.1', 'localhost')),
      since: any(new Date(0).toISOString(), new Date().toISOString()),
      cursor: any('W10', 'WyIyMDI2Il0', 'WyIwMDAwLTAxLTAxIiwieCJd'),
    };
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await receiver?.close();
    await ctx?.stop();
  });

  /** The requests of one route, `count` of them, drawn from `seed`. */
  function requestsFor(route: (typeof routes)[number], seed: number, count: number): FuzzRequest[] {
    const options = { known, loopbackUrl: known.url as fc.Arbitrary<string>, components };
    const parameters = route.operation.parameters ?? [];
    const pathParams = parameters.filter((p) => p.in === 'path');
    const queryParams = parameters.filter((p) => p.in === 'query');
    const schema = route.operation.requestBody?.content['application/json'].schema;

    const path = fc.tuple(...pathParams.map((p) => wireText(nearValid(p.schema, options, p.name)))).map((values) => {
      let i = 0;
      return route.path.replace(/:(\w+)/g, () => values[i++] ?? 'x');
    });
    const query = fc
      .tuple(
        ...queryParams.map((p) => fc.option(wireText(nearValid(p.schema, options, p.name)).map((v) => `${p.name}=${v}`), { nil: undefined })),
        // An unknown parameter is a 400 by the conventions (docs/api-conventions.md): sent 1 time in 8, so most requests reach the route.
        fc.oneof({ weight: 7, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: wireText(nastyString).map((v) => `unknown=${v}`) }),
      )
      .map((parts) => parts.filter(Boolean).join('&'));
    const accepted = route.auth.flatMap((kind) => tokens[kind as Kind] ?? []);
    const others = (['operator', 'hub', 'partner'] as const).filter((k) => !route.auth.includes(k)).flatMap((k) => tokens[k]);
    const token = fc.oneof(
      ...(accepted.length > 0 ? [{ weight: 6, arbitrary: fc.constantFrom(...accepted) }] : []),
      { weight: accepted.length > 0 ? 1 : 6, arbitrary: fc.constant(undefined) },
      ...(others.length > 0 ? [{ weight: 1, arbitrary: fc.constantFrom(...others) }] : []),
      { weight: 1, arbitrary: fc.constantFrom(...tokens.garbage) },
    );
    const body = fc.oneof(
      { weight: schema ? 14 : 2, arbitrary: nearValid(schema, options).map((value) => ({ body: value })) },
      { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => ({ body: value })) },
      { weight: 1, arbitrary: fc.constant({ body: undefined }) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          { raw: '{"a":' },
          { raw: '' },
          { raw: 'null' },
          { raw: '"x\\ud800"' },
          { raw: '{"a":"\\u0000"}' },
          { raw: `${'['.repeat(20_000)}${']'.repeat(20_000)}` },
          { raw: '{"email":"a@b.c"}', contentType: 'text/plain' },
          { raw: '{"email":"a@b.c"}', contentType: 'application/json; charset=utf-16' },
          { raw: 'email=a%40b.c', contentType: 'application/x-www-form-urlencoded' },
        ),
      },
    );
    const request = fc.record({ path, query, token, body }).map(
      (r): FuzzRequest => ({ method: route.method.toUpperCase(), path: r.query ? `${r.path}?${r.query}` : r.path, token: r.token, ...r.body, body: 'body' in r.body ? r.body.body : undefined }),
    );
    return fc.sample(request, { seed, numRuns: count });
  }

  /**
   * Sends one request on a connection of its own (no keep-alive), so a reset can only mean the
   * api hung up on this very request, never a race with a socket an earlier answer closed.
   */
  function send(r: FuzzRequest): Promise<{ status: number; text: string }> {
    const text = r.raw ?? (r.body === undefined ? undefined : serialize(r.body));
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        `${ctx.url}${r.path}`,
        {
          method: r.method,
          agent: false,
          headers: {
            ...(r.token ? { authorization: `Bearer ${r.token}` } : {}),
            ...(text !== undefined ? { 'content-type': r.contentType ?? 'application/json', 'content-length': Buffer.byteLength(text) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.setTimeout(60_000, () => req.destroy(new Error('no answer within 60 s')));
      req.on('error', reject);
      req.end(text);
    });
  }

  it('answers every request below 500, stays up, and is still ready', { timeout: 180_000 }, async () => {
    const missing = routes.filter((r) => !r.operation).map((r) => `${r.method} ${r.path}`);
    expect(missing, 'route specs missing from the OpenAPI document').toEqual([]);

    const plans = routes.map((route, i) => requestsFor(route, SEED + i, ROUNDS));
    const statuses: Record<number, number> = {};
    const failures: string[] = [];
    let tried = 0;
    const began = Date.now();
    // Round by round over the routes, so a delete early on does not starve one route's later requests.
    for (let round = 0; round < ROUNDS; round++) {
      for (const plan of plans) {
        const r = plan[round]!;
        tried += 1;
        const shown = `${r.method} ${r.path.slice(0, 200)} token=${r.token ? r.token.slice(0, 12) : 'none'} body=${(r.raw ?? serialize(r.body ?? null)).slice(0, 300)}`;
        try {
          const res = await send(r);
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          if (res.status >= 500) failures.push(`${res.status} ${res.text.slice(0, 200)} <- ${shown}`);
        } catch (err) {
          failures.push(`no answer (${String((err as Error).cause ?? err)}) <- ${shown}`);
        }
      }
    }
    const ready = await ctx.request('GET', '/readyz');
    const fiveHundreds = Object.entries(statuses).reduce((n, [status, count]) => n + (Number(status) >= 500 ? count : 0), 0);
    process.stdout.write(
      `fuzz: seed ${SEED}, ${routes.length} routes, ${tried} requests tried in ${((Date.now() - began) / 1000).toFixed(1)} s, ${fiveHundreds} answered 5xx, ${failures.length} failures; ` +
        `per status ${JSON.stringify(statuses)}; /readyz ${ready.status}; names looked up: ${[...new Set(lookups)].join(', ') || 'none'}\n`,
    );
    expect(failures, `seed ${SEED}`).toEqual([]);
    expect(ready.status).toBe(200);
    expect((await ctx.request('GET', '/healthz')).status).toBe(200);
    // Most requests got past authentication and validation somewhere: the fuzz reached the routes' own code.
    expect(Object.entries(statuses).filter(([status]) => Number(status) < 300).reduce((n, [, c]) => n + c, 0)).toBeGreaterThan(tried / 40);
  });
});

// The fuzz's own helpers, checked on their own so a broken generator cannot pass quietly.
describe('the fuzz helpers', () => {
  it('encode what fetch cannot send and write deep nesting as text', async () => {
    const { Deep } = await import('../support/fuzz.ts');
    expect(encodeText('a\ud800/')).toBe('a%EF%BF%BD%2F');
    expect(serialize({ x: new Deep(3) })).toBe('{"x":[[[{"x":1}]]]}');
  });
});

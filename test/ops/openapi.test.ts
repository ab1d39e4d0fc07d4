import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { createApp } from '#api/app';
import { UNDOCUMENTED_PATHS } from '#api/docs/router';
import { buildOfflineOpenApiDocument } from '#api/docs/offline';
import { DEFAULT_FUNCTIONS } from '#shared/db/seeds/functions';
import type { ApiRoutes } from '#api/http/route';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { servedRoutes, toOpenApiPath, type ServedRoute } from '../support/express-routes.ts';

// The parts of the document the tests read, loosely typed: it is JSON from the wire.
/* eslint-disable @typescript-eslint/no-explicit-any */
interface Response {
  description: string;
  headers?: Record<string, { $ref: string }>;
  content?: Record<string, { schema?: { $ref?: string } }>;
}
interface Operation {
  operationId?: string;
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
  responses: Record<string, Response>;
  description?: string;
}
type OpenApiDocument = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  webhooks: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, any>; securitySchemes: Record<string, any>; headers: Record<string, any> };
};
/* eslint-enable @typescript-eslint/no-explicit-any */

// A fresh connection per request: the synchronous work of these tests (building apps, compiling
// schemas) can block the event loop past the server's keep-alive timeout, and a pooled socket
// the server is closing just then answers the next request with ECONNRESET.
const CLOSE = { connection: 'close' };

const addFormats = addFormatsPlugin as unknown as (ajv: Ajv2020) => void;
const SCHEMES_OF = { operator: ['operatorToken'], hub: ['hubToken'], partner: ['partnerApiKey', 'partnerSession'] } as const;

const operations = (document: OpenApiDocument) =>
  Object.entries(document.paths).flatMap(([path, item]) => Object.entries(item).map(([method, operation]) => ({ method, path, operation })));

/** Served routes the document does not list, minus the documented exceptions. */
function undocumented(routes: ServedRoute[], document: OpenApiDocument): string[] {
  const allowedRoutes = new Set<string>(UNDOCUMENTED_PATHS.routes);
  const underMount = (path: string) => UNDOCUMENTED_PATHS.mounts.some((m) => path === m || path.startsWith(`${m}/`));
  return routes
    .filter((r) => !allowedRoutes.has(`${r.method} ${r.path}`) && !underMount(r.path))
    .filter((r) => r.method === 'MOUNT' || !document.paths[toOpenApiPath(r.path)]?.[r.method.toLowerCase()])
    .map((r) => `${r.method} ${r.path}`);
}

describe('the OpenAPI document', () => {
  let ctx: TestContext;
  let document: OpenApiDocument;
  beforeAll(async () => {
    ctx = await startTestContext();
    document = (await ctx.request('GET', '/openapi.json', { headers: CLOSE })).body;
  });
  afterAll(async () => {
    await ctx.stop();
  });

  const build = () => createApp({ config: ctx.config, db: ctx.db, redis: ctx.redis, queues: ctx.queues, logger: ctx.logger });
  const buildApp = () => build().app;
  let routes: ApiRoutes | undefined;
  const api = () => (routes ??= build().api);

  it('serves Swagger UI at /docs from the package, with nothing from elsewhere', async () => {
    const res = await ctx.request('GET', '/docs', { headers: CLOSE });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.text).toContain('<div id="swagger-ui"></div>');
    // Only same-origin files: no CDN, no inline script.
    const sources = [...res.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(sources.sort()).toEqual(['/docs/favicon-32x32.png', '/docs/init.js', '/docs/swagger-ui-bundle.js', '/docs/swagger-ui.css']);
    expect(res.text).not.toMatch(/<script>(?!<\/)/);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    for (const source of sources) {
      const file = await fetch(`${ctx.url}${source}`, { headers: CLOSE });
      expect(file.status, source).toBe(200);
      expect((await file.arrayBuffer()).byteLength, source).toBeGreaterThan(100);
    }
    const init = await (await fetch(`${ctx.url}/docs/init.js`, { headers: CLOSE })).text();
    expect(init).toContain("url: '/openapi.json'");
    expect(init).toContain('validatorUrl: null');
  });
  it('answers errors in the documented Error shape', async () => {
    const ajv = new Ajv2020({ strict: false });
    ajv.addSchema({ $id: 'https://hubhook.test/openapi.json', components: document.components });
    const validate = ajv.compile({ $ref: 'https://hubhook.test/openapi.json#/components/schemas/Error' });
    const answers = [
      await ctx.request('GET', '/v1/partners', { headers: CLOSE }),
      await ctx.request('GET', '/v1/partners', { token: HUB_TOKEN, headers: CLOSE }),
      await ctx.request('GET', '/v1/partners?limit=0', { token: OPERATOR_TOKEN, headers: CLOSE }),
      await ctx.request('POST', '/v1/partners', { token: OPERATOR_TOKEN, body: '{', headers: { ...CLOSE, 'content-type': 'application/json' } }),
      await ctx.request('POST', '/v1/partners', { token: OPERATOR_TOKEN, body: 'name=x', headers: { ...CLOSE, 'content-type': 'text/plain' } }),
      await ctx.request('GET', '/v1/applications/apl_nothing', { token: OPERATOR_TOKEN, headers: CLOSE }),
      await ctx.request('GET', '/v1/no-such-route', { headers: CLOSE }),
      await ctx.request('DELETE', '/v1/partners', { token: OPERATOR_TOKEN, headers: CLOSE }),
    ];
    expect(answers.map((a) => a.status)).toEqual([401, 403, 400, 400, 415, 404, 404, 405]);
    for (const answer of answers) expect(validate(answer.body) ? [] : validate.errors).toEqual([]);
    // The body's requestId is the answer's x-request-id.
    for (const answer of answers) expect(answer.body.error.requestId).toBe(answer.headers.get('x-request-id'));
  });

  it('documents Idempotency-Key on every POST and PATCH with a caller, and Idempotent-Replayed on their answers', () => {
    const byRoute = new Map(api().specs.map((s) => [`${s.method} ${toOpenApiPath(s.path)}`, s]));
    let idempotent = 0;
    for (const { method, path, operation } of operations(document)) {
      const spec = byRoute.get(`${method} ${path}`)!;
      const takesKey = (method === 'post' || method === 'patch') && !spec.auth.includes('public');
      const header = (operation.parameters ?? []).find((p: { in: string; name: string }) => p.in === 'header' && p.name === 'idempotency-key');
      expect(Boolean(header), `${method} ${path}`).toBe(takesKey);
      const replayed = Object.entries(operation.responses as Record<string, { headers?: Record<string, unknown> }>)
        .filter(([status]) => Number(status) < 500 && status !== '429')
        .map(([status, response]) => [status, Boolean(response.headers?.['idempotent-replayed'])]);
      expect(replayed.filter(([, has]) => has !== takesKey), `${method} ${path}`).toEqual([]);
      if (!takesKey) continue;
      idempotent += 1;
      expect(header).toMatchObject({ required: false, schema: { type: 'string' } });
      expect(operation.responses['409']?.description, `${method} ${path}`).toContain('idempotency_key_in_use');
      expect(operation.responses['422']?.description, `${method} ${path}`).toContain('idempotency_key_reused');
    }
    expect(idempotent).toBeGreaterThan(20);
    expect(document.components.headers['Idempotent-Replayed']).toMatchObject({ schema: { type: 'string' } });
  });

  it('lists every route express serves (walking the router stack)', () => {
    const routes = servedRoutes(buildApp());
    // The walk must see the routes it is checking, or the check proves nothing.
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining(['GET /healthz', 'GET /metrics', 'GET /v1/ops/queues', 'POST /v1/ops/queues/:queueName/pause', 'GET /docs', 'MOUNT /ops/board']),
    );
    expect(undocumented(routes, document)).toEqual([]);
  });

  it('catches a route added with plain express, or a stray mounted app', async () => {
    const app = buildApp();
    app.get('/v1/sneaky/:id', (_req, res) => {
      res.json({});
    });
    const express = (await import('express')).default;
    const router = express.Router();
    router.post('/hidden', (_req, res) => {
      res.end();
    });
    app.use('/v1/nested', router);
    app.use('/v1/other-app', express());
    expect(undocumented(servedRoutes(app), document)).toEqual(['GET /v1/sneaky/:id', 'POST /v1/nested/hidden', 'MOUNT /v1/other-app']);
  });

  it('is a valid OpenAPI 3.1 document by the standard schema', async () => {
    const validator = new Validator();
    const result = await validator.validate(document as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('gives every operation a unique operationId and the security of its token kinds', () => {
    const ops = operations(document);
    const ids = ops.map((op) => op.operation.operationId);
    expect(ids.filter((id) => typeof id !== 'string' || !/^[a-z][A-Za-z]+$/.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    const byRoute = new Map(api().specs.map((s) => [`${s.method} ${toOpenApiPath(s.path)}`, s]));
    for (const { method, path, operation } of ops) {
      const spec = byRoute.get(`${method} ${path}`)!;
      expect(operation.operationId).toBe(spec.operationId);
      const schemes = (operation.security ?? []).flatMap((requirement) => Object.keys(requirement)).sort();
      const expected = spec.auth.includes('public') ? [] : spec.auth.flatMap((kind) => SCHEMES_OF[kind as keyof typeof SCHEMES_OF]).sort();
      expect(schemes, `${method} ${path}`).toEqual(expected);
      for (const name of schemes) expect(document.components.securitySchemes[name]).toMatchObject({ type: 'http', scheme: 'bearer' });
    }
    // The session-only and HUB-only parts are told apart.
    expect(Object.keys(document.components.securitySchemes).sort()).toEqual(['hubToken', 'operatorToken', 'partnerApiKey', 'partnerSession']);
  });

  it('documents every error answer with the shared Error body, and the errors each kind of route can give', () => {
    let errors = 0;
    let withBody = 0;
    for (const { method, path, operation } of operations(document)) {
      const where = `${method} ${path}`;
      const statuses = Object.keys(operation.responses).map(Number);
      for (const [status, response] of Object.entries(operation.responses)) {
        expect(response.headers?.['x-request-id'], where).toEqual({ $ref: '#/components/headers/X-Request-Id' });
        if (Number(status) >= 400) {
          errors += 1;
          if (response.content?.['application/json']?.schema?.$ref === '#/components/schemas/Error') withBody += 1;
        }
        if (status === '429' || status === '503') expect(response.headers?.['retry-after'], where).toBeDefined();
        if (status === '201') expect(response.headers?.location, where).toBeDefined();
      }
      expect(statuses, where).toEqual(expect.arrayContaining([400, 500]));
      if (operation.security?.length) expect(statuses, where).toEqual(expect.arrayContaining([401]));
      if (operation.requestBody) expect(statuses, where).toEqual(expect.arrayContaining([413, 415]));
    }
    const forbidden = operations(document).filter((op) => op.operation.responses['403']).length;
    const named = Object.keys(document.components.schemas).length;
    const ops = operations(document);
    console.warn(
      `OpenAPI: ${named} named schemas; ${ops.filter((op) => op.operation.operationId).length}/${ops.length} operations with an operationId; ` +
        `${withBody}/${errors} error responses with a body schema (403 on ${forbidden}); ${Object.keys(document.webhooks).length} webhooks`,
    );
    expect(withBody).toBe(errors);
    // The 429s of the rate-limited routes, the 401 of a bad code and the 503 of readiness are there too.
    expect(document.paths['/v1/auth/sign-in']!.post!.responses['429']).toBeDefined();
    // The RateLimit-* fields where the api sends them: the counted routes' answers, and bad tokens' 401 and 429.
    const rateLimitHeaders = { 'ratelimit-limit': expect.anything(), 'ratelimit-remaining': expect.anything(), 'ratelimit-reset': expect.anything() };
    for (const [path, status] of [['/v1/auth/sign-in', '202'], ['/v1/auth/sign-in', '429'], ['/v1/auth/verify', '200'], ['/v1/auth/verify', '401'], ['/v1/applications', '202']] as const) {
      expect(document.paths[path]!.post!.responses[status]!.headers, `${path} ${status}`).toMatchObject(rateLimitHeaders);
    }
    expect(document.paths['/v1/subscriptions/{subscriptionId}']!.get!.responses['401']!.headers).toMatchObject(rateLimitHeaders);
    expect(document.paths['/v1/subscriptions/{subscriptionId}']!.get!.responses['200']!.headers).not.toHaveProperty('ratelimit-limit');
    expect(document.components.headers).toHaveProperty('RateLimit-Remaining');
    expect(document.paths['/readyz']!.get!.responses['503']).toBeDefined();
  });

  it('names every JSON body, request and response alike', () => {
    const inline: string[] = [];
    for (const { method, path, operation } of operations(document)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        const schema = response.content?.['application/json']?.schema;
        if (schema && !schema.$ref) inline.push(`${method} ${path} ${status}`);
      }
      const body = operation.requestBody?.content['application/json']?.schema;
      if (body && !body.$ref) inline.push(`${method} ${path} body`);
    }
    expect(inline).toEqual([]);
    expect(Object.keys(document.components.schemas)).toEqual(
      expect.arrayContaining(['Subscription', 'SubscriptionPage', 'Message', 'MessagePage', 'Attempt', 'Error', 'ErrorDetail', 'Product', 'Partner', 'User']),
    );
  });

  it('gives one schema per name (a name reused by another schema would silently merge them)', () => {
    const byName = new Map<string, Set<unknown>>();
    const seen = new Set<unknown>();
    const walk = (schema: unknown) => {
      if (typeof schema !== 'object' || schema === null || seen.has(schema)) return;
      seen.add(schema);
      const zod = schema as { meta?: () => { id?: unknown } | undefined; _zod?: { def: Record<string, unknown> } };
      if (!zod._zod) return;
      const id = zod.meta?.()?.id;
      if (typeof id === 'string') byName.set(id, (byName.get(id) ?? new Set()).add(schema));
      for (const value of Object.values(zod._zod.def)) {
        if (Array.isArray(value)) value.forEach(walk);
        else if (typeof value === 'object' && value !== null && !('_zod' in value)) Object.values(value).forEach(walk);
        else walk(value);
      }
    };
    for (const definition of api().registry.definitions) {
      if (definition.type !== 'route') continue;
      const { request, responses } = definition.route;
      const body = request?.body?.content['application/json'] as { schema?: unknown } | undefined;
      [request?.params, request?.query, body?.schema].forEach(walk);
      for (const response of Object.values(responses)) walk((response as { content?: Record<string, { schema?: unknown }> }).content?.['application/json']?.schema);
    }
    expect(byName.get('Subscription')?.size).toBe(1);
    expect([...byName].filter(([, schemas]) => schemas.size > 1).map(([name]) => name)).toEqual([]);
  });

  it('matches every example to its schema, and marks timestamps as date-time', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ $id: 'https://hubhook.test/openapi.json', components: document.components });
    const examples = Object.entries(document.components.schemas).filter(([, schema]) => schema.example !== undefined);
    const invalid = examples.flatMap(([name, schema]) => {
      const validate = ajv.compile({ $ref: `https://hubhook.test/openapi.json#/components/schemas/${name}` });
      return validate(schema.example) ? [] : [`${name}: ${ajv.errorsText(validate.errors)}`];
    });
    expect(invalid).toEqual([]);
    const named = (names: string[]) => names.filter((name) => document.components.schemas[name]?.example === undefined);
    expect(named(['Subscription', 'Message', 'Attempt', 'Product', 'Partner', 'Error', 'CreateSubscriptionRequest', 'PublishEventsRequest'])).toEqual([]);
    const subscription = document.components.schemas.Subscription!;
    expect(subscription.properties.createdAt).toMatchObject({ type: 'string', format: 'date-time' });
    expect(subscription.properties.lastSuccessAt).toMatchObject({ format: 'date-time' });
    expect(document.components.schemas.Message!.properties.nextAttemptAt).toMatchObject({ format: 'date-time' });
  });

  it('describes what receivers get: every event type of the catalog, the signature headers, the verification and the retries', () => {
    const types = DEFAULT_FUNCTIONS.flatMap((fn) => fn.eventTypes);
    expect(types.length).toBeGreaterThan(20);
    expect(Object.keys(document.webhooks).sort()).toEqual([...types, 'subscription.verification'].sort());
    for (const [type, item] of Object.entries(document.webhooks)) {
      const operation = item.post!;
      expect(operation.parameters?.filter((p) => p.in === 'header').map((p) => p.name).sort(), type).toEqual(['webhook-id', 'webhook-signature', 'webhook-timestamp']);
      const ref = operation.requestBody!.content['application/json']!.schema.$ref!;
      const envelope = document.components.schemas[ref.split('/').pop()!]!;
      expect(envelope.properties.type).toMatchObject({ enum: [type] });
      expect(envelope.required).toEqual(expect.arrayContaining(['type', 'timestamp', 'data', 'eventId', 'installationId', 'occurredAt']));
    }
    const estate = document.components.schemas.EstateUpdatedEvent!;
    expect(document.components.schemas[estate.properties.data.$ref.split('/').pop()].properties).toHaveProperty('estateStatus');
    // The schedule as configured (the default here), in the words a receiver reads.
    expect(document.webhooks['estate.updated']!.post!.description).toContain('after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h');
  });

  it('is the same document without a running api (what `npm run openapi` writes)', async () => {
    const offline = JSON.parse(JSON.stringify(await buildOfflineOpenApiDocument()));
    expect(offline.paths).toEqual(document.paths);
    expect(offline.components).toEqual(document.components);
    expect(Object.keys(offline.webhooks)).toEqual(Object.keys(document.webhooks));
  });

});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { createApp } from '#api/app';
import { UNDOCUMENTED_PATHS } from '#api/docs/router';
import { startTestContext, type TestContext } from '../support/context.ts';
import { servedRoutes, toOpenApiPath, type ServedRoute } from '../support/express-routes.ts';

type OpenApiDocument = { openapi: string; paths: Record<string, Record<string, unknown>> };

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
  let docsPage: Awaited<ReturnType<TestContext['request']>>;
  beforeAll(async () => {
    ctx = await startTestContext();
    document = (await ctx.request('GET', '/openapi.json')).body;
    // Fetched here, not after the validator: that one holds the event loop for seconds on a
    // loaded machine, past the server's keep-alive timeout, and the pooled socket then resets.
    docsPage = await ctx.request('GET', '/docs');
  });
  afterAll(async () => {
    await ctx.stop();
  });

  const buildApp = () => createApp({ config: ctx.config, db: ctx.db, redis: ctx.redis, queues: ctx.queues, logger: ctx.logger }).app;

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

  it('serves a self-contained reference page at /docs with every operation, grouped by tag', async () => {
    const res = docsPage;
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    // Nothing fetched from elsewhere: no script, no external stylesheet or image.
    expect(res.text).not.toMatch(/<script|<link|src=|https?:\/\/(?!www\.w3\.org)/i);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    for (const [path, item] of Object.entries(document.paths)) {
      for (const method of Object.keys(item)) {
        expect(res.text).toContain(`${method.toUpperCase()}</span> <code>${path}</code>`);
      }
    }
    expect(res.text).toMatch(/<h2 class="tag" id="tag-ops">ops<\/h2>/);
    // Parameters and answers are shown, e.g. the queue name of pause and the counts of the list.
    expect(res.text).toContain('<code>queueName</code></td><td>path</td>');
    expect(res.text).toMatch(/waiting: integer/);
  });
});

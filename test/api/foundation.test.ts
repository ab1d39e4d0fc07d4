import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, testEnv, type TestContext } from '../support/context.ts';
import { createLogger } from '#shared/logger';
import { openResources } from '#shared/resources';
import { loadConfig } from '#shared/config';
import { startApi } from '#api/server';
import { deleteKeys, prefixKeys } from '#shared/queues/connection';
import { randomText } from '#shared/ids';

describe('the api skeleton', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('answers /healthz', async () => {
    const res = await ctx.request('GET', '/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('answers /readyz with both checks ok', async () => {
    const res = await ctx.request('GET', '/readyz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok' } });
  });

  it('answers an unknown route with a 404 in the error shape', async () => {
    const res = await ctx.request('GET', '/v1/no-such-thing');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'route_not_found', message: expect.stringContaining('/v1/no-such-thing'), details: [], requestId: res.headers.get('x-request-id') } });
  });

  it('refuses a body over the limit with 413 in the error shape', async () => {
    const big = JSON.stringify({ blob: 'x'.repeat(1_100_000) });
    const res = await ctx.request('POST', '/v1/anything', { body: big });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });

  it('refuses malformed JSON with 400 in the error shape', async () => {
    const res = await ctx.request('POST', '/v1/anything', { body: '{"unterminated": ' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_json', details: [] });
  });

  it('echoes a sane x-request-id and makes one otherwise', async () => {
    const given = await ctx.request('GET', '/healthz', { headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers.get('x-request-id')).toBe('abc-123');
    const forged = await ctx.request('GET', '/healthz', { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(forged.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const made = await ctx.request('GET', '/healthz');
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('serves an OpenAPI document listing the routes', async () => {
    const res = await ctx.request('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz']));
  });
});

/** A logger keeping its JSON lines, so a test can see what went to the log rather than to the caller. */
function keptLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'warn', pretty: false, destination }) };
}

describe('/readyz when a dependency is down', () => {
  it('answers 503 naming Redis when Redis does not answer, with its error in the log only', async () => {
    // A Redis URL on a port nothing listens on; Postgres is the real one.
    const config = loadConfig(testEnv({ REDIS_URL: 'redis://127.0.0.1:1' }));
    const { lines, logger } = keptLogger();
    const resources = openResources(config);
    resources.redis.on('error', () => {});
    const api = await startApi({ config, logger, ...resources }, 0, '127.0.0.1');
    try {
      const res = await fetch(`${api.url}/readyz`);
      const body = (await res.json()) as { error: { code: string; details: { path: string }[] } };
      expect(res.status).toBe(503);
      expect(body).toEqual({
        error: {
          code: 'not_ready',
          message: 'redis not answering',
          details: [{ path: 'redis', message: 'not answering', code: 'dependency_unavailable' }],
          requestId: res.headers.get('x-request-id'),
        },
      });
      const logged = lines.map((line) => JSON.parse(line) as { msg: string; dependency?: string; error?: string }).find((l) => l.msg === 'readiness check failed');
      expect(logged).toMatchObject({ dependency: 'redis', error: expect.any(String) });
      expect(logged!.error!.length).toBeGreaterThan(0);
    } finally {
      await api.close();
      resources.redis.disconnect();
      await resources.db.destroy();
    }
  });

  it('answers 503 naming Postgres when Postgres does not answer, without its error text', async () => {
    // Redis is the real one: a queue prefix of its own, as every test file has, removed after.
    const config = loadConfig(testEnv({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', QUEUE_PREFIX: `{t_${randomText(10)}}` }));
    const { lines, logger } = keptLogger();
    const resources = openResources(config);
    const api = await startApi({ config, logger, ...resources }, 0, '127.0.0.1');
    try {
      const res = await fetch(`${api.url}/readyz`);
      const body = (await res.json()) as { error: { code: string; message: string; details: { path: string }[] } };
      expect(res.status).toBe(503);
      expect(body.error.details).toEqual([{ path: 'postgres', message: 'not answering', code: 'dependency_unavailable' }]);
      expect(body.error.message).toBe('postgres not answering');
      // The raw error (here "connect ECONNREFUSED 127.0.0.1:1") names the address: log only.
      expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
      expect(lines.some((line) => line.includes('readiness check failed') && line.includes('"dependency":"postgres"') && line.includes('ECONNREFUSED'))).toBe(true);
    } finally {
      await api.close();
      await deleteKeys(resources.redis, await prefixKeys(resources.redis, resources.queues.shards, config.queuePrefix));
      await resources.close();
    }
  });
});

describe('input Postgres cannot store', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('answers a NUL character anywhere in the input with 400 naming the field, on every route', async () => {
    const partner = await ctx.request('POST', '/v1/partners', { token: OPERATOR_TOKEN, body: { name: 'Nul\u0000Co', contactEmail: 'a@example.com' } });
    expect(partner.status).toBe(400);
    expect(partner.body.error.details).toEqual([expect.objectContaining({ path: 'body.name', code: 'nul_character' })]);
    const event = {
      id: 'evt-nul',
      installationId: 'MSVPAR',
      type: 'estate.updated',
      occurredAt: new Date().toISOString(),
      data: { nested: ['ok', 'bad\u0000'] },
    };
    const ingest = await ctx.request('POST', '/v1/hub/events', { token: HUB_TOKEN, body: { events: [event] } });
    expect(ingest.status).toBe(400);
    expect(ingest.body.error.details[0].path).toBe('body.events.0.data.nested.1');
    const query = await ctx.request('GET', '/v1/partners?cursor=%00', { token: OPERATOR_TOKEN });
    expect(query.status).toBe(400);
  });

  it('says so when a JSON body comes without a JSON content type', async () => {
    const res = await ctx.request('POST', '/v1/partners', {
      token: OPERATOR_TOKEN,
      body: JSON.stringify({ name: 'Plain', contactEmail: 'plain@example.com' }),
      headers: { 'content-type': 'text/plain' },
    });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('unsupported_media_type');
  });
});

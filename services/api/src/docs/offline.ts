/**
 * The OpenAPI document without a running api: the routes are registered against handles that
 * never connect (knex and ioredis connect on first use, and nothing here queries), so a build
 * step can generate a client (`npm run openapi`) with no Postgres, Redis or secrets. The
 * settings are the defaults, so the webhooks' retry schedule is the default one.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '#shared/config';
import { createDb } from '#shared/db/knex';
import { createLogger } from '#shared/logger';
import { createMetrics } from '#shared/metrics';
import { createRedis } from '#shared/queues/connection';
import type { Queues } from '#shared/queues/connection';
import { ApiRoutes } from '../http/route.ts';
import { createRateLimits } from '../http/rate-limits.ts';
import { registerRoutes } from '../app.ts';
import { buildOpenApiDocument, documentOptions, type OpenApiDocument } from './document.ts';

// Handlers never run here, so no queue is ever touched; one that is used anyway fails loudly.
const noQueues = new Proxy({} as Queues, {
  get(_target, name) {
    throw new Error(`the offline OpenAPI build has no queues (asked for ${String(name)})`);
  },
});

/** Builds the document the api serves, from the route specs alone. */
export async function buildOfflineOpenApiDocument(): Promise<OpenApiDocument> {
  const config = loadConfig({
    DATABASE_URL: 'postgres://offline.invalid/hubhook',
    REDIS_URL: 'redis://offline.invalid:6379',
    OPERATOR_TOKEN: randomBytes(16).toString('hex'),
    HUB_TOKEN: randomBytes(16).toString('hex'),
    SECRETS_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'silent',
  });
  const db = createDb({ url: config.databaseUrl, poolMax: 1 });
  const redis = createRedis(config.redisUrl, { lazyConnect: true });
  const logger = createLogger({ level: 'silent' });
  try {
    const api = new ApiRoutes({ db, config, limits: createRateLimits({ redis, config, logger }) });
    registerRoutes(api, { config, db, redis, queues: noQueues, logger, metrics: createMetrics({ defaultMetrics: false }) });
    return buildOpenApiDocument(api, documentOptions(config));
  } finally {
    redis.disconnect();
    await db.destroy();
  }
}

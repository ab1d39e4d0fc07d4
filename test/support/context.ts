import { Writable } from 'node:stream';
import { inject } from 'vitest';
import { loadConfig, type Config } from '#shared/config';
import { createLogger, type Logger } from '#shared/logger';
import { openResources, type Resources } from '#shared/resources';
import { migrateLatest } from '#shared/db/migrate';
import { createRedis, deleteKeys, prefixKeys } from '#shared/queues/connection';
import { randomText } from '#shared/ids';
import { startApi, type RunningApi } from '#api/server';
import { startWorkers, type RunningWorkers, type WorkerOptions } from '#worker/workers';
import { metricsObserver } from '#worker/delivery/metrics-observer';
import { catalogQueues } from '#shared/queues/connection';
import { createMetrics } from '#shared/metrics';

// At least 32 characters each, as HUBHOOK_ENV=production requires.
export const OPERATOR_TOKEN = 'test-operator-token-0123456789abcdef';
export const HUB_TOKEN = 'test-hub-token-0123456789abcdef0123';
export const SECRETS_KEY = Buffer.alloc(32, 7).toString('base64');

/** Options for `startTestContext`. */
export interface TestContextOptions {
  /** Extra or different environment variables. */
  env?: Record<string, string>;
  /** Also start the workers (default false: most api tests do not need them). */
  workers?: boolean;
  /** Keep every log line in `logs` (default: logs are discarded). */
  captureLogs?: boolean;
  /** Options of the workers, when started (`startWorkers`). */
  workerOptions?: Partial<WorkerOptions>;
}

/** A running hubhook for one test file: its own schema, queue prefix and port. */
export interface TestContext extends Resources {
  config: Config;
  logger: Logger;
  schema: string;
  queuePrefix: string;
  api: RunningApi;
  url: string;
  workers: RunningWorkers | null;
  logs: string[];
  /** fetch against the api with an optional bearer token; JSON bodies are encoded. */
  request(method: string, path: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<TestResponse>;
  stop(): Promise<void>;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  // Tests read whatever the route answers; a loose type keeps assertions short.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  text: string;
}

/** The environment a test starts with: real services, tokens, loopback receivers admitted. */
export function testEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: inject('databaseUrl'),
    REDIS_URL: inject('redisUrl'),
    PORT: '0',
    OPERATOR_TOKEN,
    HUB_TOKEN,
    SECRETS_KEY,
    ALLOW_PRIVATE_RECEIVERS: '127.0.0.0/8,::1,localhost',
    LOG_LEVEL: 'silent',
    ...extra,
  };
}

/** Starts the api (and optionally the workers) in a fresh schema with a fresh queue prefix. */
export async function startTestContext(options: TestContextOptions = {}): Promise<TestContext> {
  const suffix = randomText(10);
  const schema = `t_${suffix}`;
  const queuePrefix = `{t_${suffix}}`;
  const env = testEnv({ ...(options.captureLogs ? { LOG_LEVEL: 'debug' } : {}), ...options.env, QUEUE_PREFIX: queuePrefix });
  const config = loadConfig(env);
  const logs: string[] = [];
  const logger = createLogger({
    level: config.logLevel,
    pretty: false,
    destination: new Writable({
      write(chunk, _encoding, done) {
        if (options.captureLogs) logs.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    }),
  });
  const resources = openResources(config, { schema, queuePrefix });
  await migrateLatest(resources.db, schema);
  // Api and workers share one registry, as under `npm start`: one scrape of /metrics shows both.
  const metrics = createMetrics({ queues: catalogQueues(resources.queues), db: resources.db, logger });
  const deps = { config, logger, ...resources };
  const api = await startApi({ ...deps, metrics }, 0, '127.0.0.1');
  const workerRedis = options.workers ? createRedis(config) : null;
  const workers = workerRedis ? startWorkers(workerRedis, deps, { prefix: queuePrefix, observer: metricsObserver(metrics), ...options.workerOptions }) : null;

  return {
    ...resources,
    config,
    logger,
    schema,
    queuePrefix,
    api,
    url: api.url,
    workers,
    logs,
    async request(method, path, { token, body, headers = {} } = {}) {
      const response = await fetch(`${api.url}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: unknown = undefined;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: response.status, headers: response.headers, body: parsed, text };
    },
    async stop() {
      await api.close();
      if (workers) await workers.close(5_000);
      if (workerRedis) await workerRedis.quit();
      // Leave nothing behind: the file's queue keys and its schema.
      await deleteKeys(resources.redis, await prefixKeys(resources.redis, resources.queues.shards, queuePrefix));
      await resources.db.raw('drop schema if exists ?? cascade', [schema]);
      await resources.close();
    },
  };
}

/**
 * `npm start`: the whole system on one machine with nothing configured. Postgres is embedded
 * (data under .data/) unless DATABASE_URL is set; Redis comes from REDIS_URL, else a local one
 * on 6379, else a redis-server we start. Migrations and the seed run, then the api and the
 * worker. Ctrl-C stops everything we started, in order, and leaves no process behind.
 */
import path from 'node:path';
import { loadConfigOrExit } from '#shared/config';
import { createLogger } from '#shared/logger';
import { openResources } from '#shared/resources';
import { migrateLatest } from '#shared/db/migrate';
import { seedFunctions } from '#shared/db/seeds/functions';
import { createRedis } from '#shared/queues/connection';
import { startApi } from '#api/server';
import { startWorkers } from '#worker/workers';
import { metricsObserver } from '#worker/delivery/metrics-observer';
import { catalogQueues } from '#shared/queues/connection';
import { createMetrics } from '#shared/metrics';
import { findRedis, startEmbeddedPostgres, type LocalService } from './lib/local-services.ts';
import { givenInEnv, loadDevSecrets, tokenBanner } from './lib/dev-secrets.ts';

const dataDir = path.resolve('.data');
const started: LocalService[] = [];
let stopping = false;

async function stopServices(): Promise<void> {
  for (const service of started.reverse()) await service.stop().catch((err) => console.error(err));
}

async function main(): Promise<void> {
  const secrets = loadDevSecrets(dataDir);
  // What the environment gives wins; an empty value counts as unset (so the made one is used).
  const given = Object.fromEntries(Object.entries(process.env).filter(([name]) => givenInEnv(process.env, name)));
  const env: NodeJS.ProcessEnv = { ...secrets, ALLOW_PRIVATE_RECEIVERS: '127.0.0.0/8,::1,localhost', ...given };

  if (!env.DATABASE_URL) {
    console.log('starting embedded Postgres (data in .data/postgres) ...');
    const pg = await startEmbeddedPostgres({
      dataDir: path.join(dataDir, 'postgres'),
      database: 'hubhook',
      persistent: true,
      preferredPort: 54329,
    });
    started.push(pg);
    env.DATABASE_URL = pg.url;
  }
  // A Redis Cluster given (`npm run redis:cluster` prints the line) is used as it is.
  let redisLine = `the cluster of REDIS_CLUSTER_NODES (${env.REDIS_CLUSTER_NODES})`;
  if (!env.REDIS_CLUSTER_NODES) {
    const redis = await findRedis(env);
    if (redis.source === 'started') started.push(redis);
    env.REDIS_URL = redis.url;
    redisLine = redis.source === 'started' ? `started on ${redis.url}` : `${redis.url} (${redis.source})`;
  }

  const config = loadConfigOrExit(env);
  const logger = createLogger({ level: config.logLevel });
  const resources = openResources(config);
  const migrated = await migrateLatest(resources.db);
  if (migrated.length > 0) logger.info({ migrations: migrated }, 'migrations applied');
  const seeded = await seedFunctions(resources.db);
  if (seeded.length > 0) logger.info({ functions: seeded }, 'default function catalog installed');

  const workerRedis = createRedis(config);
  // One process runs both: one registry, so the api's /metrics shows the deliveries too.
  const metrics = createMetrics({ queues: catalogQueues(resources.queues), db: resources.db, logger });
  const workers = startWorkers(workerRedis, { config, logger, ...resources }, { prefix: config.queuePrefix, observer: metricsObserver(metrics) });
  const api = await startApi({ config, logger, ...resources, metrics }, config.port);

  console.log(
    [
      '',
      `hubhook is up: ${api.url}`,
      `  readiness     ${api.url}/readyz`,
      `  API reference ${api.url}/docs (and /openapi.json)`,
      `  queues        ${api.url}/ops/board (operator token)`,
      `  Postgres      ${env.DATABASE_URL === process.env.DATABASE_URL ? 'from DATABASE_URL' : 'embedded (.data/postgres)'}`,
      `  Redis         ${redisLine}`,
      '',
      ...tokenBanner(process.env, secrets),
      '',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping ...`);
    const deadline = setTimeout(() => {
      console.error('shutdown took too long; forcing exit');
      process.exit(1);
    }, config.shutdownTimeoutMs + 10_000);
    deadline.unref();
    await api.close().catch((err) => console.error(err));
    await workers.close(config.shutdownTimeoutMs).catch((err) => console.error(err));
    await workerRedis.quit().catch(() => workerRedis.disconnect());
    await resources.close().catch((err) => console.error(err));
    await stopServices();
    console.log('stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch(async (err) => {
  console.error(err instanceof Error ? err.message : err);
  await stopServices();
  process.exit(1);
});

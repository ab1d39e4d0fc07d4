import v8 from 'node:v8';
import { loadConfigOrExit } from '#shared/config';
import { withSecretsKey } from '#shared/secrets-key';
import { createLogger } from '#shared/logger';
import { openResources } from '#shared/resources';
import { createRedis } from '#shared/queues/connection';
import { onShutdownSignal } from '#shared/shutdown';
import { waitForServices } from '#shared/startup';
import { createMetrics } from '#shared/metrics';
import { startWorkers } from './workers.ts';
import { metricsObserver } from './delivery/metrics-observer.ts';
import { startMetricsServer } from './metrics-server.ts';

/** Production entry point of the worker: `npm run start:worker` after `npm run build`. */
const loaded = loadConfigOrExit();
const logger = createLogger({ level: loaded.logLevel });
// Outside production a missing SECRETS_KEY is made once and kept under .data/ (production refuses to start).
const config = withSecretsKey(loaded, { warn: (message) => logger.warn(message) });
// Before the heap fills: V8 reads this factor at every full GC (docs/operations.md, "Memory").
if (config.workerHeapGrowthPercent > 0) v8.setFlagsFromString(`--heap-growing-percent=${config.workerHeapGrowthPercent}`);
const resources = openResources(config);
// Compose starts the worker with the databases: wait for them rather than crash-loop.
await waitForServices(resources.db, resources.redis, logger, { timeoutMs: config.startupTimeoutMs }).catch((err: unknown) => {
  logger.fatal({ err }, 'Postgres or Redis did not become ready; exiting');
  process.exit(1);
});
// Workers block on their connection, so they get one of their own, apart from the producers'.
const workerRedis = createRedis(config);
// Delivery counters live here; queue depths and subscription states are the api's to report.
// Read at scrape time, once the workers below exist.
const metrics = createMetrics({ logger, dispatcher: () => workers.engine.dispatcher.depth() });
const workers = startWorkers(workerRedis, { config, logger, ...resources }, { prefix: config.queuePrefix, observer: metricsObserver(metrics) });
// Deliveries matter more than their metrics: if the port is taken, log it and deliver anyway
// (Prometheus then sees the worker down, and HubhookWorkerDown says so).
const metricsServer = await startMetricsServer(metrics, {
  port: config.metricsPort,
  operatorToken: config.operatorToken,
  health: () => {
    const attemptWriter = workers.engine.writer.health();
    return { ok: attemptWriter.committing, details: { attemptWriter } };
  },
}).catch((err: unknown) => {
  logger.error({ err, port: config.metricsPort }, 'metrics endpoint not started; delivering without it');
  return null;
});
logger.info({ queues: [...new Set(workers.workers.map((w) => w.name))], redis: config.redisClusterNodes ? 'cluster' : 'single', deliveryShards: config.workerShards, metrics: metricsServer ? `${metricsServer.url}/metrics` : null }, 'worker started');
onShutdownSignal(logger, config.shutdownTimeoutMs + 2_000, async () => {
  await workers.close(config.shutdownTimeoutMs);
  await metricsServer?.close();
  await workerRedis.quit();
  await resources.close();
});

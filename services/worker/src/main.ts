import { loadConfigOrExit } from '#shared/config';
import { createLogger } from '#shared/logger';
import { openResources } from '#shared/resources';
import { createRedis } from '#shared/queues/connection';
import { onShutdownSignal } from '#shared/shutdown';
import { startWorkers } from './workers.ts';

/** Production entry point of the worker: `npm run start:worker` after `npm run build`. */
const config = loadConfigOrExit();
const logger = createLogger({ level: config.logLevel });
const resources = openResources(config);
// Workers block on their connection, so they get one of their own, apart from the producers'.
const workerRedis = createRedis(config.redisUrl);
const workers = startWorkers(workerRedis, { config, logger, ...resources }, { prefix: config.queuePrefix });
logger.info({ queues: workers.workers.map((w) => w.name) }, 'worker started');
onShutdownSignal(logger, config.shutdownTimeoutMs + 2_000, async () => {
  await workers.close(config.shutdownTimeoutMs);
  await workerRedis.quit();
  await resources.close();
});

import { loadConfigOrExit } from '#shared/config';
import { withSecretsKey } from '#shared/secrets-key';
import { createLogger } from '#shared/logger';
import { openResources } from '#shared/resources';
import { createRedis } from '#shared/queues/connection';
import { onShutdownSignal } from '#shared/shutdown';
import { startWorkers } from './workers.ts';

/** Production entry point of the worker: `npm run start:worker` after `npm run build`. */
const loaded = loadConfigOrExit();
const logger = createLogger({ level: loaded.logLevel });
// Outside production a missing SECRETS_KEY is made once and kept under .data/ (production refuses to start).
const config = withSecretsKey(loaded, { warn: (message) => logger.warn(message) });
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

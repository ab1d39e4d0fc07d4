import { loadConfigOrExit } from '#shared/config';
import { createLogger } from '#shared/logger';
import { openResources } from '#shared/resources';
import { migrateLatest } from '#shared/db/migrate';
import { onShutdownSignal } from '#shared/shutdown';
import { startApi } from './server.ts';

/** Production entry point of the api: `npm run start:api` after `npm run build`. */
const config = loadConfigOrExit();
const logger = createLogger({ level: config.logLevel });
const resources = openResources(config);
const migrated = await migrateLatest(resources.db);
if (migrated.length > 0) logger.info({ migrations: migrated }, 'migrations applied');
const api = await startApi({ config, logger, ...resources }, config.port);
logger.info({ url: api.url }, 'api listening');
onShutdownSignal(logger, config.shutdownTimeoutMs, async () => {
  await api.close();
  await resources.close();
});

import { loadConfigOrExit } from '#shared/config';
import { withSecretsKey } from '#shared/secrets-key';
import { createLogger } from '#shared/logger';
import { openResources } from '#shared/resources';
import { migrateLatest } from '#shared/db/migrate';
import { onShutdownSignal } from '#shared/shutdown';
import { waitForServices } from '#shared/startup';
import { withholdsSensitive } from '#shared/mail/outbox';
import { startApi } from './server.ts';

/** Production entry point of the api: `npm run start:api` after `npm run build`. */
const loaded = loadConfigOrExit();
const logger = createLogger({ level: loaded.logLevel });
// Outside production a missing SECRETS_KEY is made once and kept under .data/ (production refuses to start).
const config = withSecretsKey(loaded, { warn: (message) => logger.warn(message) });
if (withholdsSensitive(config)) {
  // The choice for production without a mail server: start, but never store a sign-in code.
  logger.warn('SMTP_URL is not set: mail goes to the outbox, and sign-in codes are withheld from it, so e-mail sign-in cannot work; set SMTP_URL');
}
const resources = openResources(config);
// Compose starts the api with the databases: wait for them rather than crash-loop.
await waitForServices(resources.db, resources.redis, logger, { timeoutMs: config.startupTimeoutMs }).catch((err: unknown) => {
  logger.fatal({ err }, 'Postgres or Redis did not become ready; exiting');
  process.exit(1);
});
const migrated = await migrateLatest(resources.db);
if (migrated.length > 0) logger.info({ migrations: migrated }, 'migrations applied');
const api = await startApi({ config, logger, ...resources }, config.port);
logger.info({ url: api.url }, 'api listening');
onShutdownSignal(logger, config.shutdownTimeoutMs, async () => {
  await api.close();
  await resources.close();
});

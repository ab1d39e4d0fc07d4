import express, { type Express } from 'express';
import { pinoHttp } from 'pino-http';
import { catalogQueues } from '#shared/queues/connection';
import type { AppDeps } from './deps.ts';
import { ApiRoutes } from './http/route.ts';
import { errorHandler, notFound } from './http/errors.ts';
import { requestId } from './http/request-id.ts';
import { createRateLimits } from './http/rate-limits.ts';
import { registerHealthRoutes } from './health/router.ts';
import { registerEventRoutes } from './events/router.ts';
import { registerMessageRoutes } from './messages/router.ts';
import { registerDocsRoutes } from './docs/router.ts';
import { buildOpenApiDocument, documentOptions } from './docs/document.ts';
import { registerPartnerRoutes } from './partners/router.ts';
import { registerUserRoutes } from './users/router.ts';
import { registerInstallationRoutes } from './installations/router.ts';
import { registerFunctionRoutes } from './functions/router.ts';
import { registerLegacyGrantRoutes } from './legacy-grants/router.ts';
import { registerProductRoutes } from './products/router.ts';
import { registerActivationRoutes } from './activations/router.ts';
import { registerAccessCheckRoutes } from './access-check/router.ts';
import { registerSubscriptionRoutes } from './subscriptions/router.ts';
import { createMetrics, type Metrics } from '#shared/metrics';
import { registerMetricsRoutes } from './metrics/router.ts';
import { registerOpsRoutes } from './ops/router.ts';
import { mountQueueBoard } from './ops/board.ts';
import { mountPortal } from './portal/static.ts';
import { registerOutboxRoutes } from './outbox/router.ts';
import { registerApplicationRoutes } from './applications/router.ts';
import { registerSessionRoutes } from './sessions/router.ts';
import { registerAccountCredentialRoutes } from './account-credentials/router.ts';
import { registerCleanUpRequestRoutes } from './clean-up-requests/router.ts';
import { registerApiKeyRoutes } from './api-keys/router.ts';
import { registerNotificationRoutes } from './notifications/router.ts';

/** Every route set of the API, in one list: the OpenAPI document is built from the same calls. */
export function registerRoutes(api: ApiRoutes, deps: AppDeps & { metrics: Metrics }): void {
  registerHealthRoutes(api, deps);
  registerEventRoutes(api, deps);
  registerMessageRoutes(api, deps);
  registerPartnerRoutes(api, deps);
  registerUserRoutes(api, deps);
  registerInstallationRoutes(api, deps);
  registerFunctionRoutes(api, deps);
  registerLegacyGrantRoutes(api, deps);
  registerProductRoutes(api, deps);
  registerActivationRoutes(api, deps);
  registerAccessCheckRoutes(api, deps);
  registerSubscriptionRoutes(api, deps);
  registerMetricsRoutes(api, deps.metrics);
  registerOpsRoutes(api, deps);
  registerOutboxRoutes(api, deps);
  registerApplicationRoutes(api, deps);
  registerSessionRoutes(api, deps);
  registerAccountCredentialRoutes(api, deps);
  registerCleanUpRequestRoutes(api, deps);
  registerApiKeyRoutes(api, deps);
  registerNotificationRoutes(api, deps);
}

/** The metrics an app serves: the given ones, or its own reading queue depths and subscription states on scrape. */
function metricsFor(deps: AppDeps): Metrics {
  return deps.metrics ?? createMetrics({ queues: catalogQueues(deps.queues), db: deps.db, logger: deps.logger });
}

/** Builds the express app (not listening): tests start it on a random port. */
export function createApp(deps: AppDeps): { app: Express; api: ApiRoutes; metrics: Metrics } {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: requestId,
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      // Probes are polled every few seconds; logging each would drown the useful lines.
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
    }),
  );
  // A batch of 1000 events outgrows the general limit; only this route takes the larger one.
  app.use('/v1/hub/events', express.json({ limit: deps.config.eventsBodyLimit }));
  app.use(express.json({ limit: deps.config.bodyLimit }));

  const metrics = metricsFor(deps);
  const limits = createRateLimits(deps);
  const api = new ApiRoutes({ db: deps.db, config: deps.config, limits });
  registerRoutes(api, { ...deps, metrics });
  const openApi = buildOpenApiDocument(api, documentOptions(deps.config));
  registerDocsRoutes(app, openApi);
  mountQueueBoard(app, { ...deps, limits });
  mountPortal(app);
  app.use(api.router);
  app.use(api.methodNotAllowed());
  app.use(notFound);
  app.use(errorHandler);
  return { app, api, metrics };
}

import type { ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import type { Metrics } from '#shared/metrics';
import { PublishEventsAnswer, PublishEventsBody } from './schema.ts';
import { ingestEvents } from './service.ts';

/** HUB publishes change events here. */
export function registerEventRoutes(api: ApiRoutes, deps: AppDeps & { metrics: Metrics }): void {
  api.add({
    method: 'post',
    path: '/v1/hub/events',
    operationId: 'publishEvents',
    auth: ['hub'],
    summary: 'Publish change events (1–1000); answered once they are committed',
    tags: ['hub'],
    body: PublishEventsBody,
    responses: { 202: PublishEventsAnswer, 400: 'An event is malformed; details name it' },
    handler: async ({ body }) => {
      const answer = await ingestEvents(deps, body.events);
      deps.metrics.eventsIngested.inc({ result: 'accepted' }, answer.accepted);
      deps.metrics.eventsIngested.inc({ result: 'duplicate' }, answer.duplicates);
      return { status: 202, body: answer };
    },
  });
}

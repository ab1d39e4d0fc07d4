import type { ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../app.ts';
import type { Metrics } from '#shared/metrics';
import { PublishEventsAnswer, PublishEventsBody } from './schema.ts';
import { ingestEvents } from './service.ts';
import { findUnroutable, recordUnroutable, unroutableError } from './unroutable.ts';

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
    responses: {
      202: PublishEventsAnswer,
      400: 'An event is malformed; details name it',
      422: 'With HUB_REJECT_UNKNOWN=true only: an event names an installation or an event type hubhook does not know (`unroutable_events`, details name each); nothing is stored',
    },
    handler: async ({ req, body }) => {
      const unroutable = await findUnroutable(deps.db, body.events);
      if (unroutable.length > 0 && deps.config.hubRejectUnknown) throw unroutableError(unroutable);
      const { acceptedIds, ...answer } = await ingestEvents(deps, body.events);
      deps.metrics.eventsIngested.inc({ result: 'accepted' }, answer.accepted);
      deps.metrics.eventsIngested.inc({ result: 'duplicate' }, answer.duplicates);
      // Only the newly accepted ones: a batch sent again must not count its events twice.
      const accepted = new Set(acceptedIds);
      const fresh = unroutable.filter((u) => accepted.delete(u.event.id));
      for (const u of fresh) deps.metrics.eventsUnroutable.inc({ reason: u.reason });
      await recordUnroutable(deps.db, fresh).catch((err: unknown) => {
        req.log.warn({ err, events: fresh.length }, 'unroutable events not recorded for the ops view');
      });
      return { status: 202, body: answer };
    },
  });
}

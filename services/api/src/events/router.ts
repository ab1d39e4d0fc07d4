import type { ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import type { Metrics } from '#shared/metrics';
import { MAX_EVENTS, PublishEventsAnswer, PublishEventsBody } from './schema.ts';
import { ingestEvents } from './service.ts';
import { findUnroutable, recordUnroutable, unroutableAmong, unroutableError } from './unroutable.ts';

/**
 * HUB publishes change events here.
 *
 * A batch with some invalid events: the valid ones are taken and the invalid ones listed in
 * `rejected` (index, id, and each field that is wrong), in a 202. A HUB that retries the whole
 * batch is never stuck on a bad event: the events taken before are duplicates the second time,
 * and the bad ones are rejected again, never answered 5xx. Only a batch that is wrong as a
 * whole (no `events` array, more than the maximum, or no valid event at all) is a 400.
 */
export function registerEventRoutes(api: ApiRoutes, deps: AppDeps & { metrics: Metrics }): void {
  api.add({
    method: 'post',
    path: '/v1/hub/events',
    operationId: 'publishEvents',
    auth: ['hub'],
    summary: `Publish change events (1–${MAX_EVENTS}); answered once they are committed`,
    description:
      'Each event is judged on its own. The valid ones are committed and answered 202 with `accepted` (new) and ' +
      '`duplicates` (ids seen before); the invalid ones are not taken and are listed in `rejected`, each with its ' +
      '`index` in the batch, its `id`, and `details` naming every field that is wrong (`body.events.3.occurredAt`). ' +
      'Sending the same batch again is safe: what was taken is a duplicate, what was rejected is rejected again. ' +
      'The whole batch is refused with 400 only when it is wrong as a whole: no `events` array, more than ' +
      `${MAX_EVENTS} events, or not one valid event (then \`details\` lists every bad one).`,
    tags: ['hub'],
    body: PublishEventsBody,
    batchOf: 'events',
    responses: {
      202: PublishEventsAnswer,
      400: 'The batch is wrong as a whole, or no event in it is valid; details name every bad field',
      422: 'With HUB_REJECT_UNKNOWN=true only: a valid event names an installation or an event type hubhook does not know (`unroutable_events`, details name each); nothing is stored',
    },
    handler: async ({ req, body, rejected }) => {
      // Refusing unknown events: look before storing. Accepting them (the default): the insert
      // itself says which of the events it stored cannot be routed (no statement of its own).
      if (deps.config.hubRejectUnknown) {
        const unroutable = await findUnroutable(deps.db, body.events);
        if (unroutable.length > 0) throw unroutableError(unroutable);
      }
      const { stored, ...answer } = await ingestEvents(deps, body.events);
      deps.metrics.eventsIngested.inc({ result: 'accepted' }, answer.accepted);
      deps.metrics.eventsIngested.inc({ result: 'duplicate' }, answer.duplicates);
      deps.metrics.eventsIngested.inc({ result: 'rejected' }, rejected.length);
      // Only the newly stored ones: a batch sent again must not count its events twice.
      const fresh = unroutableAmong(body.events, stored);
      for (const u of fresh) deps.metrics.eventsUnroutable.inc({ reason: u.reason });
      await recordUnroutable(deps.db, fresh).catch((err: unknown) => {
        req.log.warn({ err, events: fresh.length }, 'unroutable events not recorded for the ops view');
      });
      return { status: 202, body: { ...answer, rejected: rejected.map(({ index, details, value }) => ({ index, id: sentId(value, index, details), details })) } };
    },
  });
}

/** The id of a rejected event as sent, unless the id is what is wrong (or absent). */
function sentId(value: unknown, index: number, details: { path: string }[]): string | null {
  const id = (value as { id?: unknown } | null)?.id;
  return typeof id === 'string' && !details.some((d) => d.path === `body.events.${index}.id`) ? id : null;
}

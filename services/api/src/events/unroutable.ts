/**
 * Events nobody can route: an installation hubhook does not know, or an event type no function
 * of the catalog emits. No subscription can ever receive such an event, so the HUB should hear
 * of it: each is counted (`hubhook_events_unroutable_total{reason}`) and kept for the operators'
 * view (`GET /v1/ops/unroutable-events`, newest first), or, with HUB_REJECT_UNKNOWN=true, the
 * batch is refused with 422 naming each one. See docs/api-conventions.md.
 *
 * Failure policy: the list is advice, not the truth of delivery. Accepted events are committed
 * first; if recording them as unroutable fails, that is logged and the 202 still stands.
 */
import type { Db } from '#shared/db/knex';
import { UnprocessableError, type ErrorDetail } from '#shared/errors';
import { insertUnroutableEvents, knownEventTypes, knownInstallationIds, type StoredEvent } from './repository.ts';
import type { HubEventInput } from './schema.ts';

/** Why an event cannot be routed; an unknown installation is named first when both apply. */
export type UnroutableReason = 'unknown_installation' | 'unknown_event_type';

/** One event of a batch that cannot be routed, with its index in the batch. */
export interface Unroutable {
  index: number;
  event: HubEventInput;
  reason: UnroutableReason;
}

/** The events of a batch whose installation or event type hubhook does not know (two queries for the batch): the check of HUB_REJECT_UNKNOWN, before storing. */
export async function findUnroutable(db: Db, events: HubEventInput[]): Promise<Unroutable[]> {
  // Exact, as the fan-out matches: `msvpar` is not MSVPAR.
  const installationIds = [...new Set(events.map((e) => e.installationId))];
  const types = [...new Set(events.map((e) => e.type))];
  const [knownInstallations, knownTypes] = await Promise.all([knownInstallationIds(db, installationIds), knownEventTypes(db, types)]);
  const found: Unroutable[] = [];
  events.forEach((event, index) => {
    if (!knownInstallations.has(event.installationId)) found.push({ index, event, reason: 'unknown_installation' });
    else if (!knownTypes.has(event.type)) found.push({ index, event, reason: 'unknown_event_type' });
  });
  return found;
}

/** The events of a batch stored just now (insertEvents) that cannot be routed, each by its first index in the batch. */
export function unroutableAmong(events: HubEventInput[], stored: StoredEvent[]): Unroutable[] {
  const found: Unroutable[] = [];
  const unknown = new Map<string, UnroutableReason>();
  for (const s of stored) {
    if (!s.knownInstallation) unknown.set(s.id, 'unknown_installation');
    else if (!s.knownType) unknown.set(s.id, 'unknown_event_type');
  }
  if (unknown.size === 0) return found;
  events.forEach((event, index) => {
    const reason = unknown.get(event.id);
    // A repeated id within the batch is stored once, as its first occurrence.
    if (reason && unknown.delete(event.id)) found.push({ index, event, reason });
  });
  return found;
}

/** The 422 of HUB_REJECT_UNKNOWN: every unroutable event named by its field. */
export function unroutableError(found: Unroutable[]): UnprocessableError {
  const details: ErrorDetail[] = found.map(({ index, event, reason }) =>
    reason === 'unknown_installation'
      ? { path: `body.events.${index}.installationId`, code: reason, message: `no installation ${event.installationId} is registered` }
      : { path: `body.events.${index}.type`, code: reason, message: `no function of the catalog emits ${event.type}` },
  );
  return new UnprocessableError('unroutable_events', `${found.length} event(s) cannot be routed: ${details.map((d) => d.path).join(', ')}`, details);
}

/** Keeps the accepted unroutable events for the operators' view. */
export async function recordUnroutable(db: Db, found: Unroutable[]): Promise<void> {
  if (found.length === 0) return;
  await insertUnroutableEvents(
    db,
    found.map(({ event, reason }) => ({ event_id: event.id, installation_id: event.installationId, type: event.type, reason })),
  );
}

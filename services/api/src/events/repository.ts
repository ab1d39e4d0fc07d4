import type { Db } from '#shared/db/knex';
import type { UnroutableEventRow } from '#shared/db/rows';
import type { HubEventInput } from './schema.ts';

/** The advisory-lock class of "an entity's events are being stored" (pg_advisory_xact_lock(class, key)). */
const ENTITY_INGEST_LOCK = 1711;
/**
 * Entities are locked by bucket (a hash of the key, modulo this): a batch holds at most this
 * many advisory locks however many entities it names. One lock per entity let a few full
 * batches of distinct entities with slow commits exhaust Postgres's shared lock table
 * (max_locks_per_transaction x max_connections, 6,400 slots by default) and fail with "out of
 * shared memory" (test/api/events-entity-locks.test.ts). Two batches sharing a bucket commit one
 * after the other, which only costs waiting, never order.
 */
const ENTITY_LOCK_BUCKETS = 128;

/** An event stored now, and whether anything could route it: its installation is registered, a function of the catalog emits its type. */
export interface StoredEvent {
  id: string;
  knownInstallation: boolean;
  knownType: boolean;
}

/**
 * Stores a batch of HUB events, skipping ids already stored; the events stored now. One JSON
 * document for the whole batch, unpacked by Postgres: no per-row parameters to escape. Rows go
 * in array order, so `seq` (the publication order, by default from its sequence) follows the
 * batch: entity ordering delivers in that order (migration 0011).
 *
 * A sequence value is taken at insert, not at commit: two batches naming one entity, stored at
 * once, could commit in the other order than their `seq`, and the later one's message would be
 * claimed while the earlier event was still invisible. So the statement first takes a
 * transaction-scoped advisory lock per entity bucket of the batch (sorted, so two batches never
 * wait on each other in a cycle), before any row takes its `seq`: per entity, `seq` order is
 * commit order.
 *
 * The same statement says of each stored event whether it can be routed (unroutable.ts), so
 * that check costs the batch no statement of its own: only new events are ever recorded as
 * unroutable, and those are exactly the rows it returns.
 */
export async function insertEvents(db: Db, events: HubEventInput[]): Promise<StoredEvent[]> {
  const result = await db.raw(
    `with batch as (
       select * from rows from (jsonb_to_recordset(?::jsonb)
         as (id text, "installationId" text, type text, "entityId" text, "occurredAt" timestamptz, data jsonb))
         with ordinality as e(id, "installationId", type, "entityId", "occurredAt", data, position)
     ),
     entity_locks as (
       select pg_advisory_xact_lock(${ENTITY_INGEST_LOCK}, k.bucket)
       from (select distinct hashtext("installationId" || '/' || "entityId") & ${ENTITY_LOCK_BUCKETS - 1} as bucket
             from batch where "entityId" is not null order by 1) k
     ),
     stored as (
       insert into events (id, installation_id, type, entity_id, occurred_at, data)
       select e.id, e."installationId", e.type, e."entityId", e."occurredAt", e.data
       from batch e
       where (select count(*) from entity_locks) >= 0
       order by e.position
       on conflict (id) do nothing
       returning id, installation_id, type
     )
     select s.id,
            exists (select 1 from installations i where i.id = s.installation_id) as "knownInstallation",
            s.type in (select unnest(f.event_types) from functions f) as "knownType"
     from stored s`,
    [JSON.stringify(events)],
  );
  return result.rows as StoredEvent[];
}

/** Which of `ids` are registered installations (exactly: `msvpar` is not MSVPAR). */
export async function knownInstallationIds(db: Db, ids: readonly string[]): Promise<Set<string>> {
  return new Set((await db('installations').whereIn('id', ids).pluck('id')) as string[]);
}

/** Which of `types` some function of the catalog emits. */
export async function knownEventTypes(db: Db, types: readonly string[]): Promise<Set<string>> {
  const rows = (await db
    .select('t.type')
    .from(db('functions').select(db.raw('unnest(event_types) as type')).as('t'))
    .whereIn('t.type', types)
    .pluck('t.type')) as string[];
  return new Set(rows);
}

/** Keeps accepted events nobody can route, for the operators' view. */
export async function insertUnroutableEvents(db: Db, rows: Pick<UnroutableEventRow, 'event_id' | 'installation_id' | 'type' | 'reason'>[]): Promise<void> {
  if (rows.length === 0) return;
  await db('unroutable_events').insert(rows);
}

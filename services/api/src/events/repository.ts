import type { Db } from '#shared/db/knex';
import type { UnroutableEventRow } from '#shared/db/rows';
import type { HubEventInput } from './schema.ts';

/**
 * Stores a batch of HUB events, skipping ids already stored; the ids stored now. One JSON
 * document for the whole batch, unpacked by Postgres: no per-row parameters to escape. Rows go
 * in array order, so `seq` (the publication order, by default from its sequence) follows the
 * batch: entity ordering delivers in that order (migration 0011).
 */
export async function insertEvents(db: Db, events: HubEventInput[]): Promise<string[]> {
  const result = await db.raw(
    `insert into events (id, installation_id, type, entity_id, occurred_at, data)
     select e.id, e."installationId", e.type, e."entityId", e."occurredAt", e.data
     from rows from (jsonb_to_recordset(?::jsonb)
       as (id text, "installationId" text, type text, "entityId" text, "occurredAt" timestamptz, data jsonb))
       with ordinality as e(id, "installationId", type, "entityId", "occurredAt", data, position)
     order by e.position
     on conflict (id) do nothing
     returning id`,
    [JSON.stringify(events)],
  );
  return (result.rows as { id: string }[]).map((r) => r.id);
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

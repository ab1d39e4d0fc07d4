import type { Db } from '#shared/db/knex';
import type { FunctionRow } from '#shared/db/rows';
import { paginate, type Page, type PageRequest, mapPage } from '../http/pagination.ts';
import type { FunctionView, PutFunctionInput } from './schema.ts';

/** A catalog row as the API shows it. */
export const toFunction = (row: FunctionRow): FunctionView => ({
  key: row.key,
  name: row.name,
  description: row.description,
  eventTypes: row.event_types,
  filterFields: row.filter_fields,
  pushable: row.event_types.length > 0,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

/** A catalog function by key, locked for the rest of the transaction when `forUpdate`; null if unknown. */
export async function findFunction(db: Db, key: string, options: { forUpdate?: boolean } = {}): Promise<FunctionRow | null> {
  const query = db('functions').where({ key }).first();
  const row = (await (options.forUpdate ? query.forUpdate() : query)) as FunctionRow | undefined;
  return row ?? null;
}

/** Inserts or replaces a function's fields. */
export async function upsertFunction(db: Db, key: string, input: PutFunctionInput): Promise<FunctionView> {
  const fields = { name: input.name, description: input.description, event_types: input.eventTypes, filter_fields: input.filterFields };
  const [row] = (await db('functions')
    .insert({ key, ...fields })
    .onConflict('key')
    .merge({ ...fields, updated_at: db.fn.now() })
    .returning('*')) as FunctionRow[];
  return toFunction(row!);
}

/** Which of `fields` some product version's filters on this function use. */
export async function filterFieldsInUse(db: Db, key: string, fields: string[]): Promise<string[]> {
  if (fields.length === 0) return [];
  const rows = (await db('version_functions')
    .where({ function_key: key })
    .crossJoin(db.raw('jsonb_object_keys(version_functions.filters) as used(field)'))
    .whereIn('used.field', fields)
    .distinct('used.field as field')) as { field: string }[];
  return rows.map((row) => row.field).sort();
}

/** Which of `eventTypes` a live subscription on this function asks for. */
export async function eventTypesInUse(db: Db, key: string, eventTypes: string[]): Promise<string[]> {
  if (eventTypes.length === 0) return [];
  const rows = (await db('subscriptions')
    .where({ function_key: key })
    .whereNull('deleted_at')
    .crossJoin(db.raw('unnest(subscriptions.event_types) as wanted(type)'))
    .whereIn('wanted.type', eventTypes)
    .distinct('wanted.type as type')) as { type: string }[];
  return rows.map((row) => row.type).sort();
}

// LIKE's own characters in a search word match themselves.
const likeEscape = (word: string) => word.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * One page of the catalog, by key. With `q`, only functions whose key, name or description
 * contains every word of it (case-insensitive): `estate read` finds `estates.read`.
 */
export async function listFunctions(db: Db, page: PageRequest & { q?: string | undefined }): Promise<Page<FunctionView>> {
  const query = db('functions').select('functions.*');
  for (const word of (page.q ?? '').split(/\s+/).filter(Boolean)) {
    const pattern = `%${likeEscape(word)}%`;
    query.where((w) => w.whereILike('key', pattern).orWhereILike('name', pattern).orWhereILike('description', pattern));
  }
  const rows = await paginate<FunctionRow>(db, query, page, { keys: ['key'] });
  return mapPage(rows, toFunction);
}

import type { Knex } from '#shared/db/knex';
import { ConflictError, type ErrorDetail } from '#shared/errors';
import type { Actor } from '../http/actor.ts';
import { recordAudit } from '../audit/audit.ts';
import { eventTypesInUse, filterFieldsInUse, findFunction, upsertFunction } from './repository.ts';
import type { FunctionView, PutFunctionInput } from './schema.ts';

export { listFunctions } from './repository.ts';

/**
 * Creates or replaces a catalog function. Dropping a filter field that a product version filters
 * by, or an event type a live subscription asks for, would silently change what partners
 * receive: that is refused with 409 `function_in_use`, naming the fields. One transaction (the
 * row is locked while the checks run), with the audit row.
 */
export async function putFunction(db: Knex, actor: Actor, key: string, input: PutFunctionInput): Promise<FunctionView> {
  return db.transaction(async (trx) => {
    const before = await findFunction(trx, key, { forUpdate: true });
    if (before) {
      const droppedFields = before.filter_fields.filter((f) => !input.filterFields.includes(f));
      const droppedTypes = before.event_types.filter((t) => !input.eventTypes.includes(t));
      const [fields, types] = await Promise.all([filterFieldsInUse(trx, key, droppedFields), eventTypesInUse(trx, key, droppedTypes)]);
      const details: ErrorDetail[] = [
        ...fields.map((f) => ({ path: 'body.filterFields', message: `${f} is used by a product version’s filters` })),
        ...types.map((t) => ({ path: 'body.eventTypes', message: `${t} is asked for by a live subscription` })),
      ];
      if (details.length > 0) throw new ConflictError('function_in_use', `function ${key} is in use: ${details.map((d) => d.message).join('; ')}`, details);
    }
    const fn = await upsertFunction(trx, key, input);
    await recordAudit(trx, actor, {
      action: before === null ? 'function.created' : 'function.updated',
      targetType: 'function',
      targetId: fn.key,
      data: { name: fn.name, eventTypes: fn.eventTypes, filterFields: fn.filterFields },
    });
    return fn;
  });
}

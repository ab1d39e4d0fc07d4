import type { ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { pageOf } from '../http/pagination.ts';
import { recordAudit } from '../audit/audit.ts';
import { CatalogFunction, FunctionKeyParams, ListFunctionsQuery, PutFunctionBody } from './schema.ts';
import { putFunction } from './service.ts';
import { listFunctions } from './repository.ts';

/** The function catalog: operators keep it, everyone authenticated reads it. */
export function registerFunctionRoutes(api: ApiRoutes, deps: AppDeps): void {
  api.add({
    method: 'put',
    path: '/v1/functions/:functionKey',
    operationId: 'putFunction',
    auth: ['operator'],
    summary: 'Create or replace a catalog function; it is pushable when it lists event types',
    tags: ['functions'],
    params: FunctionKeyParams,
    body: PutFunctionBody,
    responses: { 200: CatalogFunction, 400: 'invalid key or body', 409: 'a dropped filter field or event type is in use (`function_in_use`)' },
    handler: async ({ actor, params, body }) => {
      const fn = await deps.db.transaction(async (trx) => {
        const result = await putFunction(trx, params.functionKey, body);
        await recordAudit(trx, actor, {
          action: result.created ? 'function.created' : 'function.updated',
          targetType: 'function',
          targetId: result.fn.key,
          data: { name: result.fn.name, eventTypes: result.fn.eventTypes, filterFields: result.fn.filterFields },
        });
        return result.fn;
      });
      return { status: 200, body: fn };
    },
  });

  api.add({
    method: 'get',
    path: '/v1/functions',
    operationId: 'listFunctions',
    auth: ['operator', 'hub', 'partner'],
    summary: 'The function catalog, by key; `q` keeps the functions whose key, name or description contains every word of it',
    tags: ['functions'],
    query: ListFunctionsQuery,
    responses: { 200: pageOf(CatalogFunction) },
    handler: async ({ query }) => ({ status: 200, body: await listFunctions(deps.db, query) }),
  });
}

import type { ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { pageOf } from '../http/pagination.ts';
import { CatalogFunction, FunctionKeyParams, ListFunctionsQuery, PutFunctionBody } from './schema.ts';
import { listFunctions, putFunction } from './service.ts';

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
    handler: async ({ actor, params, body }) => ({ status: 200, body: await putFunction(deps.db, actor, params.functionKey, body) }),
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

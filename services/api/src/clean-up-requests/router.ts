import { created, type ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import {
  CleanUpRequest,
  CleanUpRequestPage,
  CleanUpRequestParams,
  CreateCleanUpRequestBody,
  ListCleanUpRequestsQuery,
  ResolveCleanUpRequestBody,
  ResolvedCleanUpRequest,
} from './schema.ts';
import { listRequests, requestCleanUp, resolveCleanUp } from './service.ts';

/** Partners ask for covered legacy grants to be removed; operators list and resolve the requests. */
export function registerCleanUpRequestRoutes(api: ApiRoutes, deps: AppDeps): void {
  api.add({
    method: 'post',
    path: '/v1/legacy-grants/clean-up-request',
    operationId: 'createCleanUpRequest',
    auth: ['partner'],
    summary: 'Ask operators to remove the legacy grants your products now cover; records which ones they are',
    tags: ['legacy-grants'],
    body: CreateCleanUpRequestBody,
    responses: {
      201: CleanUpRequest,
      409: 'a request of yours is still open (`clean_up_pending`)',
      422: 'no legacy grant is covered by a product yet (`nothing_to_clean_up`)',
    },
    handler: async ({ actor, body }) => {
      const request = await requestCleanUp(deps.db, actor, body.note);
      return created(`/v1/ops/clean-up-requests/${request.id}`, request);
    },
  });

  api.add({
    method: 'get',
    path: '/v1/ops/clean-up-requests',
    operationId: 'listCleanUpRequests',
    auth: ['operator'],
    summary: 'Partners’ legacy clean-up requests, newest first',
    tags: ['ops', 'legacy-grants'],
    query: ListCleanUpRequestsQuery,
    responses: { 200: CleanUpRequestPage },
    handler: async ({ query }) => ({ status: 200, body: await listRequests(deps.db, query) }),
  });

  api.add({
    method: 'post',
    path: '/v1/ops/clean-up-requests/:cleanUpRequestId/resolve',
    operationId: 'resolveCleanUpRequest',
    auth: ['operator'],
    summary: 'Mark a clean-up request done; with removeGrants, remove its grants that a product still covers',
    tags: ['ops', 'legacy-grants'],
    params: CleanUpRequestParams,
    body: ResolveCleanUpRequestBody,
    responses: { 200: ResolvedCleanUpRequest, 404: 'no such request', 409: 'already done (`clean_up_resolved`)' },
    handler: async ({ actor, params, body }) => ({
      status: 200,
      body: await resolveCleanUp(deps.db, actor, params.cleanUpRequestId, body.removeGrants),
    }),
  });
}

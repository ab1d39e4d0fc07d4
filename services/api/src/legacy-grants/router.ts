import { created, type ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { PageQuery, pageOf } from '../http/pagination.ts';
import { CreateLegacyGrantBody, LegacyGrant, LegacyGrantIdParams, PartnerIdParams } from './schema.ts';
import { createLegacyGrant, listLegacyGrants, removeLegacyGrant } from './service.ts';

/** Legacy (pre-product) direct grants: operators add and remove them, partners list theirs with coverage. */
export function registerLegacyGrantRoutes(api: ApiRoutes, deps: AppDeps): void {
  api.add({
    method: 'post',
    path: '/v1/partners/:partnerId/legacy-grants',
    operationId: 'createLegacyGrant',
    auth: ['operator'],
    summary: 'Record a legacy grant: the partner may call the function for the installation',
    tags: ['legacy-grants'],
    params: PartnerIdParams,
    body: CreateLegacyGrantBody,
    responses: {
      201: LegacyGrant,
      400: 'invalid input',
      404: 'no such partner',
      409: 'the partner has this grant (`legacy_grant_exists`)',
      422: 'unknown installation or function (`unknown_reference`, details name the field)',
    },
    handler: async ({ actor, params, body }) => {
      const grant = await createLegacyGrant(deps.db, actor, params.partnerId, body);
      return created(`/v1/legacy-grants/${grant.id}`, grant);
    },
  });

  api.add({
    method: 'delete',
    path: '/v1/legacy-grants/:grantId',
    operationId: 'deleteLegacyGrant',
    auth: ['operator'],
    summary: 'Remove a legacy grant (once a product covers it)',
    tags: ['legacy-grants'],
    params: LegacyGrantIdParams,
    responses: { 204: 'removed', 404: 'no such grant' },
    handler: async ({ actor, params }) => {
      await removeLegacyGrant(deps.db, actor, params.grantId);
      return { status: 204 };
    },
  });

  api.add({
    method: 'get',
    path: '/v1/legacy-grants',
    operationId: 'listLegacyGrants',
    auth: ['partner'],
    summary: 'The partner’s legacy grants, each with the products that already cover it',
    tags: ['legacy-grants'],
    query: PageQuery,
    responses: { 200: pageOf(LegacyGrant) },
    handler: async ({ query, principal }) => ({ status: 200, body: await listLegacyGrants(deps.db, principal.partnerId, query) }),
  });
}

import { z } from 'zod';
import { created, type ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { PageQuery, pageOf } from '../http/pagination.ts';
import { CreatePartnerBody, Partner, User } from './schema.ts';
import { getPartner, listPartners, onboardPartner } from './service.ts';

/** A create answer: the partner at the top level, its contact person, and that person's one-time API key. */
const CreatedPartner = Partner.extend({
  user: User,
  apiKey: z.string(),
  partner: Partner.meta({ deprecated: true, description: 'Deprecated: the same fields as the top level; removed in the next version.' }),
}).meta({ id: 'CreatedPartner' });

/** Operator routes: onboard a partner with its contact person, list partners. */
export function registerPartnerRoutes(api: ApiRoutes, deps: AppDeps): void {
  api.add({
    method: 'post',
    path: '/v1/partners',
    operationId: 'createPartner',
    auth: ['operator'],
    summary: 'Create a partner with its contact person; the answer carries the contact person’s API key, shown once',
    tags: ['partners'],
    body: CreatePartnerBody,
    responses: { 201: CreatedPartner, 400: 'invalid input', 409: 'a partner of that name exists (the contact address may be a user of other partners)' },
    handler: async ({ actor, body }) => {
      const made = await onboardPartner(deps.db, actor, body);
      return created(`/v1/partners/${made.partner.id}`, { ...made.partner, user: made.user, apiKey: made.apiKey, partner: made.partner });
    },
  });

  api.add({
    method: 'get',
    path: '/v1/partners/:partnerId',
    operationId: 'getPartner',
    auth: ['operator'],
    summary: 'One partner (the URL a create answers in Location)',
    tags: ['partners'],
    params: z.object({ partnerId: z.string() }),
    responses: { 200: Partner, 404: 'no such partner' },
    handler: async ({ params }) => {
      return { status: 200, body: await getPartner(deps.db, params.partnerId) };
    },
  });

  api.add({
    method: 'get',
    path: '/v1/partners',
    operationId: 'listPartners',
    auth: ['operator'],
    summary: 'List partners, oldest first',
    tags: ['partners'],
    query: PageQuery,
    responses: { 200: pageOf(Partner) },
    handler: async ({ query }) => ({ status: 200, body: await listPartners(deps.db, query) }),
  });
}

import { z } from 'zod';
import type { ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { PageQuery, pageOf } from '../http/pagination.ts';
import { recordAudit } from '../audit/audit.ts';
import { CreatePartnerBody, Partner, User } from './schema.ts';
import { createPartner } from './service.ts';
import { listPartners } from './repository.ts';

const CreatedPartner = z.object({ partner: Partner, user: User, apiKey: z.string() }).meta({ id: 'CreatedPartner' });

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
      const created = await deps.db.transaction(async (trx) => {
        const result = await createPartner(trx, body);
        await recordAudit(trx, actor, {
          action: 'partner.created',
          targetType: 'partner',
          targetId: result.partner.id,
          partnerId: result.partner.id,
          data: { name: result.partner.name, contactEmail: result.partner.contactEmail, contactUserId: result.user.id },
        });
        return result;
      });
      return { status: 201, body: created };
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

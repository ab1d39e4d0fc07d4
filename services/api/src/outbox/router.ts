import type { ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { ListOutboxQuery, MailPage } from './schema.ts';
import { listMail } from './service.ts';

/** Operators read outgoing mail: with no SMTP_URL the outbox is where a developer finds it. */
export function registerOutboxRoutes(api: ApiRoutes, deps: AppDeps): void {
  api.add({
    method: 'get',
    path: '/v1/ops/outbox',
    operationId: 'listOutbox',
    auth: ['operator'],
    summary: 'List outgoing mail, newest first (in production without the body of a sign-in code)',
    tags: ['ops', 'mail'],
    query: ListOutboxQuery,
    responses: { 200: MailPage },
    handler: async ({ query }) => ({ status: 200, body: await listMail(deps.db, query, deps.config.env) }),
  });
}

import { created, type ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { PageQuery, pageOf } from '../http/pagination.ts';
import { User } from '../partners/schema.ts';
import { dispatchMail } from '#shared/mail/outbox';
import { getMe, inviteUser, listUsers, removeUser } from './service.ts';
import { AddUserBody, AddedUser, Me, UserIdParams } from './schema.ts';

/** Partner routes: who am I, and the partner's users (any user may add and remove users). */
export function registerUserRoutes(api: ApiRoutes, deps: AppDeps): void {
  api.add({
    method: 'get',
    path: '/v1/me',
    operationId: 'getMe',
    auth: ['partner'],
    summary: 'The calling key’s partner and user (null for a key that is not a user’s)',
    tags: ['users'],
    responses: { 200: Me },
    handler: async ({ actor }) => ({ status: 200, body: await getMe(deps.db, actor) }),
  });

  api.add({
    method: 'get',
    path: '/v1/users',
    operationId: 'listUsers',
    auth: ['partner'],
    summary: 'List the partner’s users, oldest first',
    tags: ['users'],
    query: PageQuery,
    responses: { 200: pageOf(User) },
    handler: async ({ query, principal }) => ({ status: 200, body: await listUsers(deps.db, principal.partnerId, query) }),
  });

  api.add({
    method: 'post',
    path: '/v1/users',
    operationId: 'createUser',
    auth: ['partner'],
    summary: 'Add a user by e-mail; the answer carries its API key, shown once, and the user is e-mailed how to sign in',
    tags: ['users'],
    body: AddUserBody,
    responses: {
      201: AddedUser,
      400: 'invalid e-mail',
      409: 'the address (compared case-insensitively) is already a user of this partner; one of another partner is added like a new one',
    },
    handler: async ({ actor, body }) => {
      const { added, mailId } = await inviteUser(deps.db, actor, body.email, deps.config.publicUrl);
      // After the commit; the mail never holds the answer up (see shared/mail/outbox.ts).
      dispatchMail(deps.queues, [mailId], actor.log);
      return created(`/v1/users/${added.user.id}`, { ...added.user, apiKey: added.apiKey, user: added.user });
    },
  });

  api.add({
    method: 'delete',
    path: '/v1/users/:userId',
    operationId: 'deleteUser',
    auth: ['partner'],
    summary: 'Remove a user and revoke its API keys (not the contact person)',
    tags: ['users'],
    params: UserIdParams,
    responses: { 204: 'removed', 404: 'no such user of this partner', 409: 'the contact person (`contact_person`)' },
    handler: async ({ actor, params }) => {
      await removeUser(deps.db, actor, params.userId);
      return { status: 204 };
    },
  });
}

import type { ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { AccessCheckBody, AccessDecision } from './schema.ts';
import { checkAccess } from './service.ts';

/** `POST /v1/hub/access-check`. */
export function registerAccessCheckRoutes(api: ApiRoutes, deps: AppDeps): void {
  api.add({
    method: 'post',
    path: '/v1/hub/access-check',
    operationId: 'checkAccess',
    auth: ['hub'],
    summary: 'May this product (by its credentials) call this function for this installation? The answer says why.',
    tags: ['hub'],
    body: AccessCheckBody,
    responses: {
      200: AccessDecision,
      400: 'invalid input; details name each field',
      401: 'no valid token',
      403: 'not the HUB token',
    },
    handler: async ({ req, body }) => {
      const decision = await checkAccess(deps.db, body);
      // The login is not secret; the key never reaches a log line.
      req.log.debug({ login: body.login, installationId: body.installationId, functionKey: body.functionKey, ...decision }, 'access check');
      return { status: 200, body: decision };
    },
  });
}

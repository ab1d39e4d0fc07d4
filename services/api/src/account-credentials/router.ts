import { created, type ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { AccountCredentials, CredentialParams, IssuedAccountCredential, PartnerParams } from './schema.ts';
import { issueAccountCredential, revokeAccountCredential, showAccountCredentials } from './service.ts';

/** Operators issue, list and revoke partners' account-level credentials (the old setup). */
export function registerAccountCredentialRoutes(api: ApiRoutes, deps: AppDeps): void {
  api.add({
    method: 'post',
    path: '/v1/partners/:partnerId/account-credentials',
    operationId: 'issueAccountCredential',
    auth: ['operator'],
    summary: "Issue an account-level access key (and the partner's account login, the first time); the key is shown once",
    tags: ['partners', 'credentials'],
    params: PartnerParams,
    responses: { 201: IssuedAccountCredential, 404: 'no such partner', 409: 'too_many_keys: two are active already' },
    handler: async ({ actor, params }) => {
      const issued = await issueAccountCredential(deps.db, actor, params.partnerId);
      return created(`/v1/partners/${params.partnerId}/account-credentials/${issued.id}`, issued);
    },
  });

  api.add({
    method: 'get',
    path: '/v1/partners/:partnerId/account-credentials',
    operationId: 'getAccountCredentials',
    auth: ['operator'],
    summary: "A partner's account login and keys (no secrets)",
    tags: ['partners', 'credentials'],
    params: PartnerParams,
    responses: { 200: AccountCredentials, 404: 'no such partner' },
    handler: async ({ params }) => ({ status: 200, body: await showAccountCredentials(deps.db, params.partnerId) }),
  });

  api.add({
    method: 'delete',
    path: '/v1/partners/:partnerId/account-credentials/:credentialId',
    operationId: 'revokeAccountCredential',
    auth: ['operator'],
    summary: 'Revoke an account-level access key',
    tags: ['partners', 'credentials'],
    params: CredentialParams,
    responses: { 204: 'revoked', 404: 'no such partner or active key' },
    handler: async ({ actor, params }) => {
      await revokeAccountCredential(deps.db, actor, params.partnerId, params.credentialId);
      return { status: 204 };
    },
  });
}

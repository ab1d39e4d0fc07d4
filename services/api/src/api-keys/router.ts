import { created, type ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { ApiKeyPage, ApiKeyParams, ListApiKeysQuery, MintApiKeyBody, MintedApiKey } from './schema.ts';
import { listOwnKeys, mintOwnKey, revokeOwnKey } from './service.ts';

/** A signed-in user's own standing API keys: list, mint (shown once), revoke. */
export function registerApiKeyRoutes(api: ApiRoutes, deps: AppDeps): void {
  const tags = ['users', 'credentials'];

  api.add({
    method: 'get',
    path: '/v1/api-keys',
    operationId: 'listApiKeys',
    auth: ['partner'],
    summary: 'List the calling user’s own API keys, newest first (no secrets; revoked ones with revokedAt)',
    tags,
    query: ListApiKeysQuery,
    responses: { 200: ApiKeyPage, 403: 'the key is not a user’s' },
    handler: async ({ query, principal }) => ({ status: 200, body: await listOwnKeys(deps.db, principal, query) }),
  });

  api.add({
    method: 'post',
    path: '/v1/api-keys',
    operationId: 'mintApiKey',
    auth: ['partner'],
    summary: 'Mint a named API key for the signed-in user (e.g. for a server); the token is shown once, only its hash is kept',
    tags,
    body: MintApiKeyBody,
    responses: {
      201: MintedApiKey,
      400: 'the name is missing or too long',
      403: 'session_required: sign in by e-mail to mint keys (an API key cannot mint another)',
      409: 'too_many_keys: revoke one first',
    },
    handler: async ({ actor, body }) => {
      const minted = await mintOwnKey(deps.db, actor, body.name);
      // The create shape: the key at the top level, its one-time token beside it.
      return created(`/v1/api-keys/${minted.apiKey.id}`, { ...minted.apiKey, token: minted.token, apiKey: minted.apiKey });
    },
  });

  api.add({
    method: 'delete',
    path: '/v1/api-keys/:keyId',
    operationId: 'revokeApiKey',
    auth: ['partner'],
    summary: 'Revoke one of the calling user’s own API keys; it stops working at once',
    tags,
    params: ApiKeyParams,
    responses: { 204: 'revoked', 404: 'no such active key of this user' },
    handler: async ({ actor, params }) => {
      await revokeOwnKey(deps.db, actor, params.keyId);
      return { status: 204 };
    },
  });
}

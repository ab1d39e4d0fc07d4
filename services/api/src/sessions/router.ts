import type { ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { clientAddress } from '../http/client-address.ts';
import { CurrentCredential, SignInAccepted, SignInBody, VerifyAnswer, VerifyBody } from './schema.ts';
import { SessionService } from './service.ts';

const ACCEPTED = {
  status: 'accepted' as const,
  message: 'If this address belongs to a user, a sign-in code is on its way. If none arrives, contact support.',
};

/** E-mail sign-in: ask for a code, exchange it for a session token, sign out. */
export function registerSessionRoutes(api: ApiRoutes, deps: AppDeps): void {
  const { limits } = api;
  const sessions = new SessionService(deps);
  const rules = deps.config.rateLimits;

  api.add({
    method: 'post',
    path: '/v1/auth/sign-in',
    operationId: 'requestSignIn',
    auth: ['public'],
    summary: 'Ask for a one-time sign-in code by e-mail (always 202: never says whether the address is registered)',
    tags: ['auth'],
    body: SignInBody,
    responses: { 202: SignInAccepted, 400: 'the address is malformed', 429: 'too many requests from this client or for this address; see Retry-After' },
    rateLimited: true,
    handler: async ({ req, res, actor, body }) => {
      await limits.enforce('sign-in:client', clientAddress(req), rules.authPerClient, res);
      await limits.enforce('sign-in:email', body.email, rules.authPerEmail, res);
      await sessions.requestSignIn(body.email, actor.log);
      return { status: 202, body: ACCEPTED };
    },
  });

  api.add({
    method: 'post',
    path: '/v1/auth/verify',
    operationId: 'verifySignIn',
    auth: ['public'],
    summary:
      'Exchange the e-mailed code for a session token; an address that is a user of several partners first gets the list (choose_partner), then sends the code again with a partnerId',
    tags: ['auth'],
    body: VerifyBody,
    responses: {
      200: VerifyAnswer,
      400: 'the address or code is malformed',
      401: 'invalid_code (wrong, unknown address, or none sent) or code_expired',
      422: 'unknown_partner: the right code, but partnerId is not one of the address’s partners',
      429: 'too_many_attempts (the code is used up: ask for a new one) or rate_limited (see Retry-After)',
    },
    rateLimited: true,
    handler: async ({ req, res, actor, body }) => {
      await limits.enforce('verify:client', clientAddress(req), rules.authPerClient, res);
      await limits.enforce('verify:email', body.email, rules.authPerEmail, res);
      return { status: 200, body: await sessions.verify(actor, body.email, body.code, body.partnerId) };
    },
  });

  api.add({
    method: 'post',
    path: '/v1/auth/sign-out',
    operationId: 'signOut',
    auth: ['partner'],
    summary: 'End the session whose token makes this request',
    tags: ['auth'],
    responses: { 204: 'signed out: the token no longer works', 422: 'not_a_session: the token is an API key' },
    handler: async ({ actor }) => {
      await sessions.signOut(actor);
      return { status: 204 };
    },
  });

  api.add({
    method: 'get',
    path: '/v1/auth/session',
    operationId: 'getSession',
    auth: ['partner'],
    summary: 'The credential making this request: its partner, user, kind and expiry',
    tags: ['auth'],
    responses: { 200: CurrentCredential },
    handler: async ({ actor }) => ({ status: 200, body: await sessions.currentCredential(actor) }),
  });
}

import type { PrincipalKind } from '../http/auth.ts';

/**
 * The bearer tokens the API takes, as OpenAPI security schemes. Partner routes take either
 * partner credential: a user's API key or a session token from e-mail sign-in (the same
 * `hhk_…` form, told apart by the key's kind).
 */
export const SECURITY_SCHEMES = {
  operatorToken: {
    type: 'http',
    scheme: 'bearer',
    description: "The operators' token (the `OPERATOR_TOKEN` setting): partners, installations, the catalog, queues and repairs.",
  },
  hubToken: {
    type: 'http',
    scheme: 'bearer',
    description: "The HUB's token (the `HUB_TOKEN` setting): publishing events, access checks, installations' products.",
  },
  partnerApiKey: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'hhk_…',
    description: "A partner user's API key (`hhk_…`), shown once when the partner (`POST /v1/partners`) or the user (`POST /v1/users`) is created.",
  },
  partnerSession: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'hhk_…',
    description:
      'A session token (`hhk_…`) from e-mail sign-in (`POST /v1/auth/sign-in`, then `POST /v1/auth/verify`); it works like an API key until it expires or `POST /v1/auth/sign-out`.',
  },
} as const;

type SchemeName = keyof typeof SECURITY_SCHEMES;

const SCHEMES_OF: Record<PrincipalKind, SchemeName[]> = {
  operator: ['operatorToken'],
  hub: ['hubToken'],
  partner: ['partnerApiKey', 'partnerSession'],
};

/** An operation's `security`: any one of the schemes of its token kinds; none for a public route. */
export function securityFor(auth: readonly (PrincipalKind | 'public')[]): Record<string, string[]>[] {
  if (auth.includes('public')) return [];
  return auth.flatMap((kind) => (kind === 'public' ? [] : SCHEMES_OF[kind].map((name) => ({ [name]: [] }))));
}

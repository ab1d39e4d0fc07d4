/**
 * The answers of a route as the OpenAPI document shows them: the route's own, plus the error
 * answers every route of its kind can give, derived here from its spec (token kinds, body,
 * rate limit) so no route has to list them and none can forget one. Every error answer, the
 * route's own included, carries the shared `Error` body; every answer carries `x-request-id`.
 */
import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import type { ResponseConfig } from '@asteasolutions/zod-to-openapi';
import type { PrincipalKind } from '../http/auth.ts';
import { ErrorBodySchema } from '../http/error-body.ts';
import { KEY_FORM } from '../http/idempotency.ts';

/** The reusable response headers, under `components.headers`. */
export const RESPONSE_HEADERS = {
  'X-Request-Id': {
    description: 'The request id: the caller’s `x-request-id` when it is plain (1–128 of `A-Za-z0-9._:-`), else a new UUID. Quote it when reporting a problem.',
    schema: { type: 'string' },
  },
  'Retry-After': {
    description: 'Seconds to wait before trying again.',
    schema: { type: 'integer', minimum: 0 },
  },
  // The IETF RateLimit header fields (http/rate-limits.ts): of several limits on one request, the one with the fewest hits left.
  'RateLimit-Limit': {
    description: 'The hits allowed per window by the rate limit this answer counted against (the one with the fewest left).',
    schema: { type: 'integer', minimum: 1 },
  },
  'RateLimit-Remaining': {
    description: 'The hits left in the current window; 0 once the limit is reached.',
    schema: { type: 'integer', minimum: 0 },
  },
  'RateLimit-Reset': {
    description: 'Seconds until the current window ends and the count starts again.',
    schema: { type: 'integer', minimum: 1 },
  },
  Location: {
    description: 'The URL of the resource just created.',
    schema: { type: 'string' },
  },
  'Idempotent-Replayed': {
    description: '`true` when this is the kept answer to an earlier request with the same `Idempotency-Key` (the work was not done again).',
    schema: { type: 'string', example: 'true' },
  },
} as const;

/**
 * The `Idempotency-Key` request header of every POST and PATCH with a caller (http/idempotency.ts;
 * rules in docs/api-conventions.md).
 */
export const IdempotencyHeadersSchema = z.object({
  'idempotency-key': z
    .string()
    .regex(KEY_FORM)
    .optional()
    .meta({
      description:
        'Makes a retry safe: a repeat within 24 h with the same key gets the first answer again (with `Idempotent-Replayed: true`) and the work is done once. 1–255 visible ASCII characters; a UUID is a good key.',
      example: '5f0c6a4e-2b1d-4d59-9a61-3f1f0f7f8b21',
    }),
});

const header = (name: keyof typeof RESPONSE_HEADERS) => ({ $ref: `#/components/headers/${name}` });

/** What the document needs to know of a route to derive its answers. */
export interface DocumentedRoute {
  auth: readonly (PrincipalKind | 'public')[];
  hasBody: boolean;
  /** Answers by status: a zod schema for a JSON body, a string describing a body-less success or an error. */
  responses: Record<number, z.ZodType | string>;
  /** Takes an `Idempotency-Key` (an authenticated POST or PATCH). */
  idempotent?: boolean;
  /** Counts every call against a rate limit (the route spec's `rateLimited`). */
  rateLimited?: boolean | undefined;
}

const KINDS: readonly PrincipalKind[] = ['operator', 'hub', 'partner'];

/** The error answers a route can give without saying so: from the route machinery and the error middleware. */
function standardErrors(route: DocumentedRoute): Record<number, string> {
  const errors: Record<number, string> = {
    // Any route: a NUL character in the query or body, an unknown or malformed parameter, bad JSON.
    400: 'The input is malformed (`validation_failed`, `invalid_json`); `error.details` name each field.',
  };
  const kinds = route.auth.filter((a): a is PrincipalKind => a !== 'public');
  if (route.rateLimited) errors[429] = 'Too many requests (`rate_limited`): wait `Retry-After` seconds.';
  if (!route.auth.includes('public')) {
    errors[401] = 'No bearer token, or one that is not valid (`unauthorized`).';
    // Invalid tokens are counted per client address (http/auth.ts): past the limit, 429.
    errors[429] = 'Too many invalid tokens from this address (`rate_limited`): wait `Retry-After` seconds.';
    if (KINDS.some((kind) => !kinds.includes(kind))) {
      errors[403] = `A valid token of another kind (\`forbidden\`): this route takes ${kinds.join(' or ')} tokens.`;
    }
  }
  if (route.idempotent) {
    errors[409] = 'A request with the same `Idempotency-Key` is still running (`idempotency_key_in_use`): retry after `Retry-After` seconds.';
    errors[422] = 'The `Idempotency-Key` was used with a different request (`idempotency_key_reused`).';
  }
  if (route.hasBody) {
    errors[413] = 'The body is larger than allowed (`payload_too_large`).';
    errors[415] = 'The body is not JSON (`unsupported_media_type`): send `content-type: application/json`.';
  }
  errors[500] = 'An unexpected fault (`internal`): logged with its trace; the body says nothing more.';
  return errors;
}

/** Every answer of a route, as OpenAPI response objects. */
export function documentResponses(route: DocumentedRoute): Record<string, ResponseConfig> {
  const out: Record<string, ResponseConfig> = {};
  const own = Object.entries(route.responses).map(([status, answer]) => [Number(status), answer] as const);
  const standard = standardErrors(route);
  const all = new Map<number, z.ZodType | string>(Object.entries(standard).map(([s, d]) => [Number(s), d] as const));
  // A route's own error description comes first; the machinery's reason for the status is kept beside it.
  for (const [status, answer] of own) {
    const derived = standard[status];
    all.set(status, typeof answer === 'string' && derived !== undefined && status >= 400 ? `${answer} Or: ${derived}` : answer);
  }
  for (const status of [...all.keys()].sort((a, b) => a - b)) {
    const answer = all.get(status)!;
    const headers: Record<string, { $ref: string }> = { 'x-request-id': header('X-Request-Id') };
    if (status === 429 || status === 503 || (route.idempotent && status === 409)) headers['retry-after'] = header('Retry-After');
    // Every kept answer may come back as a replay: all below 500 but 429 (http/idempotency.ts).
    if (route.idempotent && status < 500 && status !== 429) headers['idempotent-replayed'] = header('Idempotent-Replayed');
    if (status === 201) headers.location = header('Location');
    // Which answers say where the caller stands: a rate-limited route's own answers and its 429
    // (the handler counts before it works; input refused before the handler is not counted), and
    // the 401 and 429 of bad tokens, which are counted (http/auth.ts).
    const counted = route.rateLimited && (status === 429 || (status in route.responses && status !== 400));
    if (counted || (!route.auth.includes('public') && (status === 401 || status === 429))) {
      headers['ratelimit-limit'] = header('RateLimit-Limit');
      headers['ratelimit-remaining'] = header('RateLimit-Remaining');
      headers['ratelimit-reset'] = header('RateLimit-Reset');
    }
    if (status >= 400) {
      // One body for every error: a route describes when it happens, never a shape of its own.
      if (typeof answer !== 'string') throw new Error(`error answers use the shared Error body: describe ${status} with a string`);
      out[status] = { description: answer, headers, content: { 'application/json': { schema: ErrorBodySchema } } };
    } else if (typeof answer === 'string') {
      out[status] = { description: answer, headers };
    } else {
      out[status] = { description: STATUS_CODES[status] ?? String(status), headers, content: { 'application/json': { schema: answer } } };
    }
  }
  return out;
}

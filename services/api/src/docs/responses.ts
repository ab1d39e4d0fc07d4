/**
 * The answers of a route as the OpenAPI document shows them: the route's own, plus the error
 * answers every route of its kind can give, derived here from its spec (token kinds, body,
 * rate limit) so no route has to list them and none can forget one. Every error answer, the
 * route's own included, carries the shared `Error` body; every answer carries `x-request-id`.
 */
import { STATUS_CODES } from 'node:http';
import type { z } from 'zod';
import type { ResponseConfig } from '@asteasolutions/zod-to-openapi';
import type { PrincipalKind } from '../http/auth.ts';
import { ErrorBodySchema } from '../http/error-body.ts';

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
  Location: {
    description: 'The URL of the resource just created.',
    schema: { type: 'string' },
  },
} as const;

const header = (name: keyof typeof RESPONSE_HEADERS) => ({ $ref: `#/components/headers/${name}` });

/** What the document needs to know of a route to derive its answers. */
export interface DocumentedRoute {
  auth: readonly (PrincipalKind | 'public')[];
  hasBody: boolean;
  /** Answers by status: a zod schema for a JSON body, a string describing a body-less success or an error. */
  responses: Record<number, z.ZodType | string>;
}

const KINDS: readonly PrincipalKind[] = ['operator', 'hub', 'partner'];

/** The error answers a route can give without saying so: from the route machinery and the error middleware. */
function standardErrors(route: DocumentedRoute): Record<number, string> {
  const errors: Record<number, string> = {
    // Any route: a NUL character in the query or body, an unknown or malformed parameter, bad JSON.
    400: 'The input is malformed (`validation_failed`, `invalid_json`); `error.details` name each field.',
  };
  const kinds = route.auth.filter((a): a is PrincipalKind => a !== 'public');
  if (!route.auth.includes('public')) {
    errors[401] = 'No bearer token, or one that is not valid (`unauthorized`).';
    // Invalid tokens are counted per client address (http/auth.ts): past the limit, 429.
    errors[429] = 'Too many invalid tokens from this address (`rate_limited`): wait `Retry-After` seconds.';
    if (KINDS.some((kind) => !kinds.includes(kind))) {
      errors[403] = `A valid token of another kind (\`forbidden\`): this route takes ${kinds.join(' or ')} tokens.`;
    }
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
  const all = new Map<number, z.ZodType | string>([...Object.entries(standardErrors(route)).map(([s, d]) => [Number(s), d] as const), ...own]);
  for (const status of [...all.keys()].sort((a, b) => a - b)) {
    const answer = all.get(status)!;
    const headers: Record<string, { $ref: string }> = { 'x-request-id': header('X-Request-Id') };
    if (status === 429 || status === 503) headers['retry-after'] = header('Retry-After');
    if (status === 201) headers.location = header('Location');
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

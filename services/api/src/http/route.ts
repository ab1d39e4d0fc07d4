import { Router, type NextFunction, type Request, type Response } from 'express';
import type { z } from 'zod';
import { OpenAPIRegistry, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { AppError, ValidationError, type ErrorDetail } from '#shared/errors';
import { actorOf, type Actor } from './actor.ts';
import { authenticate, type AuthDeps, type Principal, type PrincipalKind } from './auth.ts';
import { documentResponses } from '../docs/responses.ts';
import { securityFor } from '../docs/security.ts';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type AnyObject = z.ZodType<Record<string, unknown>>;

/** What a handler answers: a status and a JSON body (none for 204), plus optional headers. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Everything a handler sees, already authenticated and validated. */
export interface RouteContext<P, Q, B, A extends PrincipalKind | 'public'> {
  req: Request;
  res: Response;
  params: P;
  query: Q;
  body: B;
  principal: A extends 'public' ? null : Extract<Principal, { kind: A }>;
  /** The principal with the request's id and logger: what services take. */
  actor: Actor<A extends 'public' ? null : Extract<Principal, { kind: A }>>;
}

/**
 * One route: its method and path, who may call it, the zod schemas of its input and answers,
 * and its handler. The same schemas validate requests and generate the OpenAPI document, so
 * the two cannot drift apart.
 */
export interface RouteSpec<
  P extends AnyObject,
  Q extends AnyObject,
  B extends z.ZodType,
  A extends PrincipalKind | 'public',
> {
  method: Method;
  /** Express syntax, e.g. `/v1/products/:id`. */
  path: string;
  /**
   * The operation's name in the OpenAPI document and in generated clients: camelCase verb and
   * noun (`createSubscription`, `listMessages`), unique, and never changed once published.
   */
  operationId: string;
  /** The token kinds that may call it, or `['public']` for no token. */
  auth: readonly A[];
  summary: string;
  tags: string[];
  params?: P;
  query?: Q;
  body?: B;
  /**
   * Answers by status: a zod schema (named with `.meta({ id })`) documents a success's body, a
   * string describes a body-less success or when an error happens. Errors all carry the shared
   * `Error` body; the ones every route can give (400, 401, 403, 413, 415, 500) are added for it.
   */
  responses: Record<number, z.ZodType | string>;
  handler: (ctx: RouteContext<z.infer<P>, z.infer<Q>, z.infer<B>, A>) => Promise<Reply> | Reply;
}

/** Turns zod issues into the API's `details`, each naming the field path (`body.name`). */
export function toDetails(where: string, error: z.ZodError): ErrorDetail[] {
  return error.issues.map((issue) => ({
    path: [where, ...issue.path.map(String)].join('.'),
    message: issue.message,
    code: issue.code,
  }));
}

/**
 * The paths of every string (or object key) holding a NUL character. Postgres text and jsonb
 * refuse NUL, so such input must be a 400 here rather than a 500 from the database.
 */
export function findNul(value: unknown, path: string, found: string[] = []): string[] {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) found.push(path);
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => findNul(item, `${path}.${i}`, found));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (key.includes('\u0000')) found.push(`${path}.${key.split('\u0000').join('\\u0000')}`);
      else findNul(inner, `${path}.${key}`, found);
    }
  }
  return found;
}

function parsePart<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): z.infer<T> {
  // Path parameters are ids: each route says what an id it cannot know means (404 or 422).
  const nul = where === 'params' ? [] : findNul(value, where);
  if (nul.length > 0) {
    throw new ValidationError(
      `invalid ${where}: ${nul.join(', ')}`,
      nul.map((path) => ({ path, message: 'must not contain NUL characters', code: 'nul_character' })),
    );
  }
  if (!schema) return (value ?? {}) as z.infer<T>;
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const details = toDetails(where, parsed.error);
    throw new ValidationError(`invalid ${where}: ${details.map((d) => d.path).join(', ')}`, details);
  }
  return parsed.data;
}

type RouteParameter = NonNullable<RouteConfig['request']>['params'];

const toOpenApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');

/**
 * A set of routes: mounted on express, and listed in the OpenAPI registry.
 * Every route of the API is defined through one of these, so /openapi.json lists them all.
 */
export class ApiRoutes {
  readonly router = Router();
  readonly registry = new OpenAPIRegistry();
  /** Every route added, with who may call it (the tenant-isolation test walks this list). */
  readonly specs: { method: Method; path: string; operationId: string; auth: readonly (PrincipalKind | 'public')[] }[] = [];

  constructor(private readonly deps: AuthDeps) {}

  /** Adds a route: validation, auth and OpenAPI documentation from one spec. */
  add<P extends AnyObject, Q extends AnyObject, B extends z.ZodType, A extends PrincipalKind | 'public'>(
    spec: RouteSpec<P, Q, B, A>,
  ): void {
    // Generated clients name their functions after operationIds: a repeat would shadow a route.
    const taken = this.specs.find((s) => s.operationId === spec.operationId);
    if (taken) throw new Error(`operationId ${spec.operationId} of ${spec.method} ${spec.path} is taken by ${taken.method} ${taken.path}`);
    this.specs.push({ method: spec.method, path: spec.path, operationId: spec.operationId, auth: spec.auth });
    this.document(spec);
    const isPublic = (spec.auth as readonly string[]).includes('public');
    const kinds = spec.auth.filter((a): a is Exclude<A, 'public'> => a !== 'public') as PrincipalKind[];
    this.router[spec.method](spec.path, async (req: Request, res: Response, next: NextFunction) => {
      try {
        const principal = isPublic ? null : await authenticate(req, this.deps, kinds);
        const params = parsePart(spec.params, req.params, 'params');
        const query = parsePart(spec.query, req.query, 'query');
        if (spec.body && req.body === undefined && !req.is('application/json') && Number(req.headers['content-length'] ?? 0) > 0) {
          throw new AppError(415, 'unsupported_media_type', 'send the body as JSON with content-type: application/json');
        }
        const body = parsePart(spec.body, req.body, 'body');
        const reply = await spec.handler({ req, res, params, query, body, principal, actor: actorOf(req, principal) } as RouteContext<
          z.infer<P>,
          z.infer<Q>,
          z.infer<B>,
          A
        >);
        if (res.headersSent) return;
        if (reply.headers) res.set(reply.headers);
        if (reply.body === undefined) res.status(reply.status).end();
        else res.status(reply.status).json(reply.body);
      } catch (err) {
        next(err);
      }
    });
  }

  private document(spec: Omit<RouteSpec<AnyObject, AnyObject, z.ZodType, PrincipalKind | 'public'>, 'handler'>): void {
    const isPublic = (spec.auth as readonly string[]).includes('public');
    this.registry.registerPath({
      method: spec.method,
      path: toOpenApiPath(spec.path),
      operationId: spec.operationId,
      summary: spec.summary,
      description: isPublic ? 'No token.' : `Tokens: ${spec.auth.join(', ')}.`,
      tags: spec.tags,
      security: securityFor(spec.auth),
      request: {
        // Route schemas are z.object()s (possibly refined), which is what RouteParameter accepts.
        params: spec.params as RouteParameter,
        query: spec.query as RouteParameter,
        // A body schema that accepts nothing at all (optional, or with a default) is an optional body.
        body: spec.body ? { required: !spec.body.safeParse(undefined).success, content: { 'application/json': { schema: spec.body } } } : undefined,
      },
      responses: documentResponses({ auth: spec.auth, hasBody: spec.body !== undefined, responses: spec.responses }),
    });
  }
}

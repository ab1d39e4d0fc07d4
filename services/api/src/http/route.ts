import { Router, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { OpenAPIRegistry, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { AppError, ValidationError, type ErrorDetail } from '#shared/errors';
import { actorOf, type Actor } from './actor.ts';
import { authenticate, type AuthDeps, type Principal, type PrincipalKind } from './auth.ts';
import { inputProblems, type InputProblem } from './input-guard.ts';
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

/** An item of a batch body set aside as invalid: where it was, what is wrong with it, and what was sent. */
export interface BatchRejection {
  index: number;
  details: ErrorDetail[];
  value: unknown;
}

/** Everything a handler sees, already authenticated and validated. */
export interface RouteContext<P, Q, B, A extends PrincipalKind | 'public'> {
  req: Request;
  res: Response;
  params: P;
  query: Q;
  /** For a batch route (`batchOf`), holding only the valid items. */
  body: B;
  /** A batch route's invalid items, in order; always empty for other routes. */
  rejected: BatchRejection[];
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
  /** More than the summary, for the OpenAPI document: behaviour a caller must know. */
  description?: string;
  tags: string[];
  params?: P;
  query?: Q;
  body?: B;
  /**
   * For a batch route: the array field of the body (a z.object) whose items are judged one by
   * one. An invalid item is set aside into `rejected` instead of refusing the whole body, so a
   * caller that retries is never stuck on one bad item; a body with no valid item is a 400.
   */
  batchOf?: string;
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
  return error.issues.map((issue) => issueDetail(where, issue));
}

// A refinement names its own code with `params: {code}` (e.g. out_of_range); zod calls them all `custom`.
const issueDetail = (where: string, issue: z.core.$ZodIssue): ErrorDetail => ({
  path: [where, ...issue.path.map(String)].join('.'),
  message: issue.message,
  code: issue.code === 'custom' && typeof issue.params?.code === 'string' ? issue.params.code : issue.code,
});

/** The most details one answer lists; the message says how many there were in all. */
export const MAX_DETAILS = 100;

const problemDetail = (where: string, problem: InputProblem): ErrorDetail => ({
  path: [where, ...problem.path.map(String)].join('.'),
  message: problem.message,
  code: problem.code,
});

/** The 400 for `details` found in one part of the request, listing at most MAX_DETAILS of them. */
function invalid(where: string, details: ErrorDetail[]): ValidationError {
  const shown = details.slice(0, MAX_DETAILS);
  const more = details.length > shown.length ? ` (and ${details.length - shown.length} more)` : '';
  // A body nested too deep is told apart by its code: it is the size of the input, not a field's value.
  const code = details.every((d) => d.code === 'nesting_too_deep') ? 'nesting_too_deep' : 'validation_failed';
  return new ValidationError(`invalid ${where}: ${shown.map((d) => d.path).join(', ')}${more}`, shown, code);
}

/**
 * Validates one part of the request (`params`, `query` or `body`): first what no route accepts
 * (input-guard.ts: NUL, lone surrogates, nesting), then the route's schema. The guard comes
 * first because the schema, the pg driver and Postgres cannot take such input safely.
 */
function parsePart<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): z.infer<T> {
  const problems = inputProblems(value);
  if (problems.length > 0) throw invalid(where, problems.map((p) => problemDetail(where, p)));
  if (!schema) return (value ?? {}) as z.infer<T>;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalid(where, toDetails(where, parsed.error));
  return parsed.data;
}

/**
 * Validates a batch body whose `key` array holds items judged one by one (see `batchOf`).
 * Anything wrong outside the items (another field, the array's length) refuses the body; an
 * invalid item is set aside with its details; no valid item at all is a 400 listing every one.
 */
function parseBatch<T extends z.ZodType>(schema: z.ZodObject, key: string, value: unknown): { body: z.infer<T>; rejected: BatchRejection[] } {
  const where = 'body';
  const itemIndex = (path: PropertyKey[]) => (path[0] === key && typeof path[1] === 'number' ? path[1] : undefined);
  const byItem = new Map<number, ErrorDetail[]>();
  const note = (index: number, detail: ErrorDetail) => byItem.set(index, [...(byItem.get(index) ?? []), detail]);

  const problems = inputProblems(value);
  const outside = problems.filter((p) => itemIndex(p.path) === undefined);
  if (outside.length > 0) throw invalid(where, outside.map((p) => problemDetail(where, p)));
  for (const p of problems) note(itemIndex(p.path)!, problemDetail(where, p));
  const guarded = new Set(byItem.keys());

  const raw = value as Record<string, unknown>;
  const items = Array.isArray(raw?.[key]) ? (raw[key] as unknown[]) : undefined;
  // Items the guard refused are not shown to zod (it could recurse into them): null stands in.
  const shown = items ? { ...raw, [key]: items.map((item, i) => (byItem.has(i) ? null : item)) } : value;
  const parsed = schema.safeParse(shown);
  if (!parsed.success) {
    // The batch as a whole is wrong (no array, too many items): that is the answer, whatever the items hold.
    const envelope = parsed.error.issues.filter((issue) => itemIndex(issue.path) === undefined);
    if (envelope.length > 0 || !items) throw invalid(where, envelope.map((issue) => issueDetail(where, issue)));
    for (const issue of parsed.error.issues) {
      const index = itemIndex(issue.path)!;
      // What zod says about a stand-in is not about the item that was sent.
      if (!guarded.has(index)) note(index, issueDetail(where, issue));
    }
  }
  if (byItem.size === 0) return { body: parsed.data as z.infer<T>, rejected: [] };
  if (byItem.size === items!.length) {
    throw invalid(where, [...byItem.entries()].sort(([a], [b]) => a - b).flatMap(([, details]) => details));
  }
  // The valid items again, on their own: the body as parsed, with only them in it.
  const kept = schema.safeParse({ ...raw, [key]: items!.filter((_, i) => !byItem.has(i)) });
  if (!kept.success) throw invalid(where, toDetails(where, kept.error));
  const rejected = [...byItem.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, details]) => ({ index, details: details.slice(0, MAX_DETAILS), value: items![index] }));
  return { body: kept.data as z.infer<T>, rejected };
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
    if (spec.batchOf !== undefined && !(spec.body instanceof z.ZodObject && spec.body.shape[spec.batchOf] instanceof z.ZodArray)) {
      throw new Error(`${spec.method} ${spec.path}: batchOf must name an array field of a z.object body`);
    }
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
        const { body, rejected } =
          spec.batchOf !== undefined
            ? parseBatch<B>(spec.body as unknown as z.ZodObject, spec.batchOf, req.body)
            : { body: parsePart(spec.body, req.body, 'body'), rejected: [] };
        const reply = await spec.handler({ req, res, params, query, body, rejected, principal, actor: actorOf(req, principal) } as RouteContext<
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
      description: [isPublic ? 'No token.' : `Tokens: ${spec.auth.join(', ')}.`, spec.description].filter(Boolean).join(' '),
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

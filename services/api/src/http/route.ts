import { Router, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { OpenAPIRegistry, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { AppError, ValidationError, type ErrorDetail } from '#shared/errors';
import { createSecretBox } from '#shared/secret-box';
import { requireSecretsKey } from '#shared/secrets-key';
import { actorOf, type Actor } from './actor.ts';
import { authenticate, type AuthDeps, type Principal, type PrincipalKind } from './auth.ts';
import { inputProblems, type InputProblem } from './input-guard.ts';
import { allFields, unknownFields } from './unknown-fields.ts';
import { knownErrorReply } from './errors.ts';
import type { RateLimits } from './rate-limits.ts';
import {
  REPLAYED_HEADER,
  IDEMPOTENCY_HEADER,
  callerScope,
  createIdempotencyStore,
  fingerprint,
  idempotencyKey,
  storable,
  type IdempotencyStore,
} from './idempotency.ts';
import { IdempotencyHeadersSchema, documentResponses } from '../docs/responses.ts';
import { securityFor } from '../docs/security.ts';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type AnyObject = z.ZodType<Record<string, unknown>>;

/**
 * What a handler answers: a status and a JSON body (none for 204), plus optional headers.
 * A 201 must carry `location`, the URL of what it created (use `created`).
 */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A 201 answer: the created resource and its URL in `Location`. */
export function created(location: string, body: unknown): Reply {
  return { status: 201, body, headers: { location } };
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
  /** Express syntax, e.g. `/v1/products/:productId`. */
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
  /**
   * The handler counts the call against a rate limit (`ApiRoutes.limits`), so its answers carry
   * `RateLimit-*` headers and it may answer 429 with `Retry-After`: said so in the document.
   */
  rateLimited?: boolean;
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

const unknownDetail = (where: string, path: string): ErrorDetail => ({
  path,
  code: 'unknown_field',
  message: where === 'query' ? 'not a query parameter of this route' : 'not a field of this route',
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
  // A key the route does not know is refused, not dropped: a typo must not pass unnoticed.
  const unknown = new Set(where === 'params' ? [] : schema ? unknownFields(schema, value, where) : allFields(value, where));
  const parsed = schema ? schema.safeParse(value) : null;
  const issues: ErrorDetail[] = [];
  if (parsed && !parsed.success) {
    for (const issue of parsed.error.issues) {
      // A strict object's own issue names the object; name each key, as the walk does.
      if (issue.code === 'unrecognized_keys') for (const key of issue.keys) unknown.add([where, ...issue.path.map(String), key].join('.'));
      else issues.push(issueDetail(where, issue));
    }
  }
  const details: ErrorDetail[] = [...[...unknown].map((path) => unknownDetail(where, path)), ...issues];
  if (details.length > 0 || (parsed && !parsed.success)) throw invalid(where, details);
  return (parsed ? parsed.data : (value ?? {})) as z.infer<T>;
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
  // Unknown keys: outside the items they refuse the body, inside one they set that item aside.
  const unknownKeys = unknownFields(schema, value, where).map((path) => ({ path, index: itemIndex(path.split('.').slice(1).map((k) => (/^\d+$/.test(k) ? Number(k) : k))) }));
  const unknownOutside = unknownKeys.filter((u) => u.index === undefined);
  if (unknownOutside.length > 0) throw invalid(where, unknownOutside.map((u) => unknownDetail(where, u.path)));
  for (const u of unknownKeys) note(u.index!, unknownDetail(where, u.path));
  const guarded = new Set(byItem.keys());

  const raw = value as Record<string, unknown>;
  const items = Array.isArray(raw?.[key]) ? (raw[key] as unknown[]) : undefined;
  // Items already refused (by the guard, or for unknown keys) are not shown to zod (it could recurse into them): null stands in.
  const shown = items ? { ...raw, [key]: items.map((item, i) => (byItem.has(i) ? null : item)) } : value;
  const parsed = schema.safeParse(shown);
  if (!parsed.success) {
    // The batch as a whole is wrong (no array, too many items): that is the answer, whatever the items hold.
    const envelope = parsed.error.issues.filter((issue) => itemIndex(issue.path) === undefined);
    if (envelope.length > 0 || !items) throw invalid(where, envelope.map((issue) => issueDetail(where, issue)));
    const named = new Set(unknownKeys.map((u) => u.path));
    for (const issue of parsed.error.issues) {
      const index = itemIndex(issue.path)!;
      // What zod says about a stand-in is not about the item that was sent.
      if (guarded.has(index)) continue;
      // A strict item's own issue names the item; name each key, as the walk does (once).
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          const path = [where, ...issue.path.map(String), key].join('.');
          if (!named.has(path)) note(index, unknownDetail(where, path));
        }
      } else note(index, issueDetail(where, issue));
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

// POST and PATCH take an Idempotency-Key; public routes have no caller to keep it for.
const isIdempotent = (method: Method, isPublic: boolean) => !isPublic && (method === 'post' || method === 'patch');

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

  private readonly idempotency: IdempotencyStore;
  /** The methods served per path, for 405 answers. */
  private readonly methods = new Map<string, Set<string>>();

  /** The app's rate limits: the bad-token count here, and the routes that limit their callers (`rateLimited`). */
  get limits(): RateLimits {
    return this.deps.limits;
  }

  constructor(private readonly deps: AuthDeps) {
    this.idempotency = createIdempotencyStore(deps.db, createSecretBox(requireSecretsKey(deps.config)));
  }

  /**
   * Runs `run` once per caller and Idempotency-Key: a repeat gets the stored answer with
   * `Idempotent-Replayed: true` (see http/idempotency.ts for what is kept and what is not).
   */
  private async runOnce(req: Request, principal: Principal, key: string, run: () => Promise<Reply>): Promise<Reply> {
    const path = req.originalUrl.split('?')[0] ?? req.path;
    const claim = await this.idempotency.claim(callerScope(principal), key, fingerprint(req.method, path, req.body));
    if (claim.kind === 'replay') return { ...claim.reply, headers: { ...claim.reply.headers, [REPLAYED_HEADER]: 'true' } };
    let reply: Reply;
    try {
      reply = await run();
    } catch (err) {
      const known = knownErrorReply(err, req);
      if (known && storable(known.status)) await claim.complete(known);
      else await claim.release();
      throw err;
    }
    if (storable(reply.status)) await claim.complete(reply);
    else await claim.release();
    return reply;
  }

  private allow(path: string, method: Method): void {
    const methods = this.methods.get(path) ?? new Set<string>();
    methods.add(method.toUpperCase());
    if (method === 'get') methods.add('HEAD');
    this.methods.set(path, methods);
  }

  /**
   * After every route: a known path asked with a method it does not serve is 405 with `Allow`;
   * any other request goes on to the 404. (express itself answers OPTIONS with `Allow`.)
   */
  methodNotAllowed(): Router {
    const fallback = Router();
    for (const [path, methods] of this.methods) {
      // `all` routes collect the methods of every pattern the URL matches (several may).
      fallback.all(path, (_req: Request, res: Response, next: NextFunction) => {
        const allowed = (res.locals.allow as Set<string> | undefined) ?? new Set<string>();
        for (const m of methods) allowed.add(m);
        res.locals.allow = allowed;
        next();
      });
    }
    fallback.use((req: Request, res: Response, next: NextFunction) => {
      const allowed = res.locals.allow as Set<string> | undefined;
      if (!allowed) {
        next();
        return;
      }
      const allow = [...allowed].sort().join(', ');
      res.set('allow', allow);
      next(new AppError(405, 'method_not_allowed', `${req.method} is not allowed on ${req.path}; allowed: ${allow}`));
    });
    return fallback;
  }

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
    const idempotent = isIdempotent(spec.method, isPublic);
    this.allow(spec.path, spec.method);
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
        const run = async (): Promise<Reply> => {
          const reply = await spec.handler({ req, res, params, query, body, rejected, principal, actor: actorOf(req, principal) } as RouteContext<
            z.infer<P>,
            z.infer<Q>,
            z.infer<B>,
            A
          >);
          // Every 201 names what it made; a route that forgets is a bug the tests must see.
          if (reply.status === 201 && !reply.headers?.location) throw new Error(`${spec.method} ${spec.path} answered 201 without a location`);
          return reply;
        };
        const key = idempotent && principal ? idempotencyKey(req.headers[IDEMPOTENCY_HEADER]) : null;
        const reply = key && principal ? await this.runOnce(req, principal, key, run) : await run();
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
    const idempotent = isIdempotent(spec.method, isPublic);
    this.registry.registerPath({
      method: spec.method,
      path: toOpenApiPath(spec.path),
      operationId: spec.operationId,
      summary: spec.summary,
      description: [isPublic ? 'No token.' : `Tokens: ${spec.auth.join(', ')}.`, spec.description].filter(Boolean).join(' '),
      tags: spec.tags,
      security: securityFor(spec.auth),
      request: {
        headers: idempotent ? IdempotencyHeadersSchema : undefined,
        // Route schemas are z.object()s (possibly refined), which is what RouteParameter accepts.
        params: spec.params as RouteParameter,
        query: spec.query as RouteParameter,
        // A body schema that accepts nothing at all (optional, or with a default) is an optional body.
        body: spec.body ? { required: !spec.body.safeParse(undefined).success, content: { 'application/json': { schema: spec.body } } } : undefined,
      },
      responses: documentResponses({ auth: spec.auth, hasBody: spec.body !== undefined, responses: spec.responses, idempotent, rateLimited: spec.rateLimited }),
    });
  }
}

import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { AppError } from '#shared/errors';

/** An error as the API answers it: status, the `{"error": …}` body, and the headers that go with it. */
export interface ErrorReply {
  status: number;
  body: { error: { code: string; message: string; details: unknown[]; requestId: string } };
  headers: Record<string, string>;
}

// pino-http sets `req.id` (the x-request-id echoed back); outside it there is none to name.
const requestIdOf = (req: Request): string => String((req as { id?: unknown }).id ?? '');

/** Answers unknown routes with a 404 in the API's error shape. */
export const notFound: RequestHandler = (req, res) => {
  res.status(404).json({ error: { code: 'route_not_found', message: `no route for ${req.method} ${req.path}`, details: [], requestId: requestIdOf(req) } });
};

// Errors raised by express's body parser carry `type` and `status`; they are the caller's doing.
const BODY_PARSER_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  'entity.too.large': { status: 413, code: 'payload_too_large', message: 'the request body is larger than allowed' },
  'entity.parse.failed': { status: 400, code: 'invalid_json', message: 'the request body is not valid JSON' },
  'encoding.unsupported': { status: 415, code: 'unsupported_encoding', message: 'the body encoding is not supported' },
  'charset.unsupported': { status: 415, code: 'unsupported_charset', message: 'the body charset is not supported' },
  'request.aborted': { status: 400, code: 'request_aborted', message: 'the request was aborted' },
};

/**
 * The answer to a known error (an AppError or a body-parser error), or null for anything else
 * (a bug). The error middleware writes it; the idempotency store keeps it for replays.
 */
export function knownErrorReply(err: unknown, req: Request): ErrorReply | null {
  const requestId = requestIdOf(req);
  if (err instanceof AppError) {
    // A 429, or a 409 for an idempotency key in use, tells the client when to try again.
    const retryAfter = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    const headers: Record<string, string> = typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : {};
    return { status: err.status, body: { error: { code: err.code, message: err.message, details: err.details, requestId } }, headers };
  }
  const type = (err as { type?: unknown } | null)?.type;
  const parserError = typeof type === 'string' ? BODY_PARSER_ERRORS[type] : undefined;
  if (parserError) return { status: parserError.status, body: { error: { code: parserError.code, message: parserError.message, details: [], requestId } }, headers: {} };
  return null;
}

/**
 * The one place errors become HTTP answers. Known errors go out as they are; anything else is
 * a bug: logged with its stack and answered as an opaque 500, never leaking internals. Every
 * error body carries the request id, so a caller can quote it.
 */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  if (res.headersSent) {
    req.log.error({ err }, 'error after the answer was sent');
    res.destroy();
    return;
  }
  const known = knownErrorReply(err, req);
  if (known) {
    res.set(known.headers).status(known.status).json(known.body);
    return;
  }
  // express's router raises a URIError (status 400) for a path segment that is not valid percent-encoding.
  if (err instanceof URIError && (err as URIError & { status?: number }).status === 400) {
    res.status(400).json({ error: { code: 'invalid_path', message: 'a path segment is not valid percent-encoding', details: [] } });
    return;
  }
  req.log.error({ err }, 'unhandled error');
  res.status(500).json({ error: { code: 'internal', message: 'internal error', details: [], requestId: requestIdOf(req) } });
};

import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, RateLimitedError } from '#shared/errors';

/** Answers unknown routes with a 404 in the API's error shape. */
export const notFound: RequestHandler = (req, res) => {
  res.status(404).json({ error: { code: 'route_not_found', message: `no route for ${req.method} ${req.path}`, details: [] } });
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
 * The one place errors become HTTP answers. Known errors go out as they are; anything else is
 * a bug: logged with its stack and answered as an opaque 500, never leaking internals.
 */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  if (res.headersSent) {
    req.log.error({ err }, 'error after the answer was sent');
    res.destroy();
    return;
  }
  if (err instanceof AppError) {
    if (err instanceof RateLimitedError) res.set('retry-after', String(err.retryAfterSeconds));
    res.status(err.status).json({ error: { code: err.code, message: err.message, details: err.details } });
    return;
  }
  const parserError = typeof err?.type === 'string' ? BODY_PARSER_ERRORS[err.type] : undefined;
  if (parserError) {
    res.status(parserError.status).json({ error: { code: parserError.code, message: parserError.message, details: [] } });
    return;
  }
  // express's router raises a URIError (status 400) for a path segment that is not valid percent-encoding.
  if (err instanceof URIError && (err as URIError & { status?: number }).status === 400) {
    res.status(400).json({ error: { code: 'invalid_path', message: 'a path segment is not valid percent-encoding', details: [] } });
    return;
  }
  req.log.error({ err }, 'unhandled error');
  res.status(500).json({ error: { code: 'internal', message: 'internal error', details: [] } });
};

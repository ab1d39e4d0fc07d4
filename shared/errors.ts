/**
 * Typed errors. Each carries the HTTP status and the snake_case code the API answers with;
 * the api's one error middleware maps them to `{"error": {code, message, details}}`.
 * Anything that is not an AppError is a bug: logged with its stack and answered as an opaque 500.
 */

/** One problem with one field of the input, as listed in `error.details`. */
export type ErrorDetail = { path: string; message: string; code?: string };

/** The base of every error the API answers with a status of its own. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** 400: the input does not have the right shape. */
export class ValidationError extends AppError {
  constructor(message: string, details: ErrorDetail[] = [], code = 'validation_failed') {
    super(400, code, message, details);
  }
}

/** 422: the input is well formed but breaks a rule (a field names something that does not fit). */
export class UnprocessableError extends AppError {
  constructor(code: string, message: string, details: ErrorDetail[] = []) {
    super(422, code, message, details);
  }
}

/** 401: no credentials, or credentials we do not recognise. */
export class UnauthorizedError extends AppError {
  constructor(message = 'a valid bearer token is required') {
    super(401, 'unauthorized', message);
  }
}

/** 403: a valid token of the wrong kind for this route. */
export class ForbiddenError extends AppError {
  constructor(message = 'this token may not use this route') {
    super(403, 'forbidden', message);
  }
}

/** 404: no such resource, or one that belongs to another partner (never 403, so ids cannot be probed). */
export class NotFoundError extends AppError {
  constructor(what: string, id?: string) {
    super(404, 'not_found', id === undefined ? `${what} not found` : `${what} ${id} not found`);
  }
}

/** 409: the request conflicts with the current state. */
export class ConflictError extends AppError {
  constructor(code: string, message: string, details: ErrorDetail[] = []) {
    super(409, code, message, details);
  }
}

/** 429: too many requests; `retryAfterSeconds` goes out as Retry-After. */
export class RateLimitedError extends AppError {
  constructor(readonly retryAfterSeconds: number) {
    super(429, 'rate_limited', `too many requests; retry after ${retryAfterSeconds} s`);
  }
}

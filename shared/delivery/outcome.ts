/**
 * What one delivery attempt's result means for the message: the delivery contract in one pure
 * function. Success is a 2xx; `410 Gone` disables the subscription; everything else (another
 * status, a redirect, which is never followed, a timeout, a reset, an answer that is not HTTP)
 * is retried on the schedule, with `Retry-After` honoured on 429 and 503.
 *
 * No I/O and no clock of its own (`now` comes in), so every case is a unit test.
 */
import type { PostResult, TransportErrorKind } from '../http/transport.ts';
import { parseRetryAfter } from './retry-policy.ts';

/** Why an attempt failed: the transport's kinds, plus a redirect (an answer, but never followed). */
export type AttemptErrorKind = TransportErrorKind | 'redirect';

/** What `classifyOutcome` reads: the transport's result, and the time it came (for Retry-After dates). */
export interface OutcomeInput {
  result: PostResult;
  /** Unix ms; default `Date.now()`. Only an HTTP-date Retry-After reads it. */
  now?: number;
}

/** The receiver took the message. */
export interface SuccessOutcome {
  kind: 'success';
  statusCode: number;
}

/** The receiver said the subscription is gone for good (410): no retry, disable it. */
export interface GoneOutcome {
  kind: 'gone';
  statusCode: 410;
  /** Why the subscription is disabled, for the partner. */
  reason: string;
  message: string;
}

/** Any other outcome: try again when the schedule (or the receiver's Retry-After) says. */
export interface RetryOutcome {
  kind: 'retry';
  /** The status the receiver answered with, or null when no complete answer came. */
  statusCode: number | null;
  /** What went wrong, when it was not just a status: null for a plain non-2xx answer. */
  error: AttemptErrorKind | null;
  /** One sentence for the delivery log. */
  message: string;
  /** The receiver's Retry-After on a 429 or 503, in ms from now; null otherwise. */
  retryAfterMs: number | null;
}

/** The classification of one attempt. */
export type Outcome = SuccessOutcome | GoneOutcome | RetryOutcome;

/** Classifies one attempt's result (pure: same input, same answer). */
export function classifyOutcome(input: OutcomeInput): Outcome {
  const { result } = input;
  if (result.kind === 'error') {
    return { kind: 'retry', statusCode: null, error: result.error, message: result.message, retryAfterMs: null };
  }
  const { status } = result;
  if (status >= 200 && status < 300) return { kind: 'success', statusCode: status };
  if (status === 410) {
    return { kind: 'gone', statusCode: 410, reason: 'the receiver answered 410 Gone', message: 'the receiver answered 410 Gone: the subscription is disabled' };
  }
  const said = `the receiver answered ${status}${result.statusText ? ` ${result.statusText}` : ''}`;
  if (status >= 300 && status < 400) {
    const location = result.headers.location;
    return {
      kind: 'retry',
      statusCode: status,
      error: 'redirect',
      message: `${said}, a redirect${location ? ` to ${location}` : ''}; redirects are not followed`,
      retryAfterMs: null,
    };
  }
  const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(result.headers['retry-after'], input.now) : null;
  return { kind: 'retry', statusCode: status, error: null, message: said, retryAfterMs };
}

/**
 * Receiver verification: before a subscription (or a new URL) is stored, the receiver gets one
 * signed request shaped like any delivery (docs/receivers.md), of type
 * `subscription.verification` with a random `challenge`, and must answer 2xx within
 * VERIFY_TIMEOUT.
 *
 * Failure policy: anything but a 2xx refuses the change with a 422 that says what happened
 * (DNS, refused, TLS, timeout, reset, a status and the start of the body, a redirect — never
 * followed), so the partner can fix the receiver. A name that resolves to a forbidden address is
 * a 422 `forbidden_address`, like a forbidden IP literal. Nothing is retried: the caller is
 * waiting, and can simply try again.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '#shared/logger';
import { UnprocessableError } from '#shared/errors';
import { newId } from '#shared/ids';
import { sign } from '#shared/signing';
import type { GuardPolicy } from '#shared/url-guard';
import { receiverGuardOptions } from '#shared/receiver-guard';
import { createTransport, type PostResult } from '#shared/http/transport';

/** The event type of verification requests. */
export const VERIFICATION_EVENT_TYPE = 'subscription.verification';

/** How many characters of a refusing receiver's body the error quotes. */
const BODY_START_CHARS = 200;

/** What `verifyReceiver` needs. */
export interface VerifyReceiverOptions {
  policy: GuardPolicy;
  timeoutMs: number;
  /** Where the outcome is logged (the URL's origin only: paths and queries may carry tokens). */
  log?: Logger;
  /** The field the URL came from, named in error details. */
  field?: string;
}

/** The verification request body for a challenge, in the delivery contract's shape. */
export function verificationBody(challenge: string, now: Date = new Date()): string {
  const at = now.toISOString();
  return JSON.stringify({
    type: VERIFICATION_EVENT_TYPE,
    timestamp: at,
    data: { challenge },
    eventId: newId('event'),
    installationId: null,
    entityId: null,
    occurredAt: at,
  });
}

/**
 * Sends the signed verification request to `url` (already accepted by `checkUrl`) and resolves
 * when the receiver answered 2xx; throws an UnprocessableError saying what happened otherwise.
 */
export async function verifyReceiver(url: URL, secrets: readonly string[], options: VerifyReceiverOptions): Promise<void> {
  const now = new Date();
  const body = verificationBody(randomBytes(24).toString('base64url'), now);
  const headers = {
    'content-type': 'application/json',
    ...sign({ id: newId('message'), timestamp: now, body, secrets }),
  };
  // One transport per verification: verifications are rare, and a fresh pool means no socket
  // (or DNS answer) outlives the check it was made for.
  const transport = createTransport({ timeoutMs: options.timeoutMs, connectionsPerOrigin: 1, ...receiverGuardOptions(options.policy) });
  let result: PostResult;
  try {
    result = await transport.post(url, body, headers);
  } finally {
    void transport.close().catch(() => undefined);
  }
  options.log?.info(
    {
      receiver: url.origin,
      outcome: result.kind === 'response' ? result.status : result.error,
      durationMs: Math.round(result.durationMs),
    },
    'receiver verification',
  );
  const refusal = describeRefusal(result, url, options.timeoutMs);
  if (refusal === null) return;
  const path = options.field ?? 'body.url';
  if (refusal.code === 'forbidden_address') {
    throw new UnprocessableError('forbidden_address', `the receiver URL is not allowed: ${refusal.reason}`, [
      { path, code: 'forbidden_address', message: refusal.reason },
    ]);
  }
  throw new UnprocessableError('receiver_unreachable', `the receiver did not accept the verification request: ${refusal.reason}`, [
    { path, code: refusal.code, message: refusal.reason },
  ]);
}

/** Why a verification result is a refusal (code and a sentence), or null for a 2xx. */
export function describeRefusal(result: PostResult, url: URL, timeoutMs: number): { code: string; reason: string } | null {
  const host = url.host;
  if (result.kind === 'response') {
    const { status } = result;
    if (status >= 200 && status < 300) return null;
    if (status >= 300 && status < 400) {
      const location = result.headers.location;
      return {
        code: 'redirect',
        reason: `it answered ${status}, a redirect${location ? ` to ${quote(location)}` : ''}; redirects are not followed: register the final URL`,
      };
    }
    const start = bodyStart(result.body.toString('utf8'));
    return { code: 'http_status', reason: `it answered ${status}${start === '' ? ' with an empty body' : `, body starting: ${quote(start)}`}` };
  }
  switch (result.error) {
    case 'dns':
      return { code: 'dns', reason: `the DNS lookup of ${url.hostname} failed (${result.message})` };
    case 'refused':
      return { code: 'refused', reason: `the connection to ${host} was refused` };
    case 'timeout':
      return { code: 'timeout', reason: `no complete answer within ${timeoutMs} ms` };
    case 'tls':
      return { code: 'tls', reason: `the TLS handshake with ${host} failed (${result.message})` };
    case 'protocol':
      return { code: 'protocol', reason: `its answer is not valid HTTP (${result.message})` };
    case 'reset':
      return { code: 'reset', reason: `the connection to ${host} was reset before an answer came (${result.message})` };
    case 'forbidden_address': {
      // Name the kind of address, not the address: a partner has no business learning what our
      // resolver says about internal names.
      const kind = /forbidden \(([a-z_]+)\)/.exec(result.message)?.[1] ?? 'forbidden';
      return { code: 'forbidden_address', reason: `${url.hostname} resolves to a forbidden (${kind}) address` };
    }
    default:
      return { code: 'other', reason: `the request failed (${result.message})` };
  }
}

// Control characters would make the message hard to read (and could forge lines in a terminal).
function bodyStart(body: string): string {
  const chars = Array.from(body.trim());
  const start = chars
    .slice(0, BODY_START_CHARS)
    .map((c) => (c < ' ' || c === '\u007f' ? ' ' : c))
    .join('')
    .replace(/ {2,}/g, ' ');
  return chars.length > BODY_START_CHARS ? `${start}…` : start;
}

const quote = (text: string) => JSON.stringify(text);

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com/), as receivers see it:
 * `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature`
 * (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, space-separated, one per secret while a
 * rotation overlaps). The public `standardwebhooks` and `svix` libraries verify our output.
 *
 * Failure policy: bad input (malformed secret, id or timestamp) is a programming or data error,
 * so `sign` throws `SigningError`; `parseSecret` and `verify` return typed results because
 * their inputs come from users and receivers.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefix every signing secret carries. */
export const SECRET_PREFIX = 'whsec_';
/** Smallest and largest key length (bytes) the Standard Webhooks spec allows. */
export const MIN_SECRET_BYTES = 24;
export const MAX_SECRET_BYTES = 64;
/** Default tolerance for `verify`, the same five minutes the public libraries use. */
export const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

/** The three headers a signed request carries. */
export type SignatureHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/** What `sign` needs: the message id (stable across retries), the time, the exact body, the active secrets. */
export type SignInput = {
  id: string;
  timestamp: Date | number;
  body: string | Uint8Array;
  secrets: readonly string[];
};

/** Error thrown by `sign`/`generateSecret` for malformed input. */
export class SigningError extends Error {
  override readonly name = 'SigningError';
  constructor(
    readonly code: 'invalid_secret' | 'invalid_secret_length' | 'invalid_id' | 'invalid_timestamp' | 'no_secrets',
    readonly reason: string,
  ) {
    super(`${code}: ${reason}`);
  }
}

/** Result of `parseSecret`. */
export type ParsedSecret = { ok: true; key: Buffer } | { ok: false; code: 'invalid_secret'; reason: string };

/** Result of `verify`. */
export type VerifyResult =
  | { ok: true }
  | { ok: false; code: 'missing_headers' | 'invalid_timestamp' | 'timestamp_out_of_tolerance' | 'no_matching_signature'; reason: string };

// Canonical base64 only (standard alphabet, padded): Buffer.from() silently skips junk characters,
// which would let two different strings denote the same key.
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// Visible ASCII, no spaces: the id goes into a header (Node rejects control characters there)
// and receivers de-duplicate on it, so it must survive proxies unchanged.
const ID_RE = /^[\x21-\x7e]{1,256}$/;

/** Makes a new secret: `whsec_` + base64 of `bytes` (24–64) random bytes. */
export function generateSecret(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < MIN_SECRET_BYTES || bytes > MAX_SECRET_BYTES) {
    throw new SigningError('invalid_secret_length', `secret length must be ${MIN_SECRET_BYTES}-${MAX_SECRET_BYTES} bytes, got ${bytes}`);
  }
  return SECRET_PREFIX + randomBytes(bytes).toString('base64');
}

/** Checks a secret's form (`whsec_` + canonical base64 of 24–64 bytes) and returns its key bytes. */
export function parseSecret(secret: string): ParsedSecret {
  if (typeof secret !== 'string' || !secret.startsWith(SECRET_PREFIX)) {
    return { ok: false, code: 'invalid_secret', reason: `secret must start with "${SECRET_PREFIX}"` };
  }
  const b64 = secret.slice(SECRET_PREFIX.length);
  if (b64.length === 0 || !BASE64_RE.test(b64)) {
    return { ok: false, code: 'invalid_secret', reason: 'secret must be whsec_ followed by padded standard base64' };
  }
  const key = Buffer.from(b64, 'base64');
  // Round-trip rejects non-zero padding bits, the last non-canonical spelling the regex lets through.
  if (key.toString('base64') !== b64) {
    return { ok: false, code: 'invalid_secret', reason: 'secret base64 is not canonical' };
  }
  if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES) {
    return { ok: false, code: 'invalid_secret', reason: `secret must decode to ${MIN_SECRET_BYTES}-${MAX_SECRET_BYTES} bytes, got ${key.length}` };
  }
  return { ok: true, key };
}

// Decoded keys by secret string. Signing is on the delivery hot path and a worker signs for the
// same subscriptions over and over, so validation + decode happen once per secret. Bounded LRU
// (Map keeps insertion order; a hit is re-inserted) so a worker that has seen every subscription
// does not grow without limit. The bound is above the subscriptions one event reaches: at 4,096 a
// fan-out to 10,000 missed on every signature (11.7 µs each, signing 10,000 secrets in turn,
// against 3.2 µs now). The key bytes are kept, not a KeyObject: signing took 3.0-3.2 µs with the
// bytes against 3.4-3.9 with KeyObjects, and an entry ~520 B of RSS against ~940.
const KEY_CACHE_MAX = 100_000;
const keyCache = new Map<string, Buffer>();

function keyFor(secret: string): Buffer {
  const hit = keyCache.get(secret);
  if (hit !== undefined) {
    keyCache.delete(secret);
    keyCache.set(secret, hit);
    return hit;
  }
  const parsed = parseSecret(secret);
  if (!parsed.ok) throw new SigningError('invalid_secret', parsed.reason);
  const key = parsed.key;
  if (keyCache.size >= KEY_CACHE_MAX) {
    const oldest = keyCache.keys().next();
    if (!oldest.done) keyCache.delete(oldest.value);
  }
  keyCache.set(secret, key);
  return key;
}

/** Empties the decoded-key cache (tests, or after a mass secret revocation). */
export function clearKeyCache(): void {
  keyCache.clear();
}

function toUnixSeconds(timestamp: Date | number): number {
  const seconds = timestamp instanceof Date ? Math.floor(timestamp.getTime() / 1000) : timestamp;
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new SigningError('invalid_timestamp', 'timestamp must be a valid Date or non-negative integer unix seconds');
  }
  return seconds;
}

// HMAC over "id.timestamp." then the body as a second update, so a large body is never copied
// into a concatenated string.
function hmac(key: Buffer, prefix: string, body: string | Uint8Array): string {
  return createHmac('sha256', key).update(prefix).update(body).digest('base64');
}

/** Signs one request: returns the three Standard Webhooks headers, one `v1,` signature per secret. */
export function sign(input: SignInput): SignatureHeaders {
  const { id, body, secrets } = input;
  if (typeof id !== 'string' || !ID_RE.test(id)) {
    throw new SigningError('invalid_id', 'id must be 1-256 visible ASCII characters');
  }
  if (secrets.length === 0) throw new SigningError('no_secrets', 'at least one secret is required');
  const ts = String(toUnixSeconds(input.timestamp));
  const prefix = `${id}.${ts}.`;
  let signature = '';
  for (let i = 0; i < secrets.length; i++) {
    const secret = secrets[i] as string; // i < length, so defined
    signature += (i === 0 ? 'v1,' : ' v1,') + hmac(keyFor(secret), prefix, body);
  }
  return { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': signature };
}

/** Options for `verify`. */
export type VerifyInput = {
  headers: Record<string, string | string[] | undefined>;
  body: string | Uint8Array;
  secrets: readonly string[];
  toleranceSeconds?: number;
  now?: Date;
};

function header(headers: VerifyInput['headers'], name: string): string | undefined {
  for (const k of Object.keys(headers)) {
    if (k.toLowerCase() === name) {
      const v = headers[k];
      return Array.isArray(v) ? v[0] : v;
    }
  }
  return undefined;
}

/** Verifies a signed request the way a receiver would (our own tests and tools; receivers use the public libraries). */
export function verify(input: VerifyInput): VerifyResult {
  const id = header(input.headers, 'webhook-id');
  const tsRaw = header(input.headers, 'webhook-timestamp');
  const sigs = header(input.headers, 'webhook-signature');
  if (!id || !tsRaw || !sigs) return { ok: false, code: 'missing_headers', reason: 'webhook-id, webhook-timestamp and webhook-signature are required' };
  if (!/^\d{1,15}$/.test(tsRaw)) return { ok: false, code: 'invalid_timestamp', reason: 'webhook-timestamp must be unix seconds' };
  const ts = Number(tsRaw);
  const now = Math.floor((input.now ?? new Date()).getTime() / 1000);
  const tolerance = input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (Math.abs(now - ts) > tolerance) {
    return { ok: false, code: 'timestamp_out_of_tolerance', reason: `timestamp is more than ${tolerance}s away from now` };
  }
  const passed = sigs
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3)));
  const prefix = `${id}.${tsRaw}.`;
  for (const secret of input.secrets) {
    const parsed = parseSecret(secret);
    if (!parsed.ok) continue; // a malformed configured secret can never match; the others still may
    const expected = Buffer.from(hmac(parsed.key, prefix, input.body));
    if (passed.some((p) => p.length === expected.length && timingSafeEqual(p, expected))) return { ok: true };
  }
  return { ok: false, code: 'no_matching_signature', reason: 'no v1 signature matches any secret' };
}

/**
 * `Idempotency-Key` for POST and PATCH: a retried request with the same key gets the first
 * answer again (status, body, `Location`), marked `Idempotent-Replayed: true`, and the work is
 * done once. See docs/api-conventions.md.
 *
 * - Keys are kept per caller (the operator, the HUB, or one partner API key) and key, in
 *   Postgres (`idempotency_keys`), so every api process sees them; 24 h after the first use
 *   they expire (the maintenance prune deletes them). Another caller's key of the same text is
 *   a different key: nothing leaks across tenants.
 * - The request is fingerprinted (SHA-256 of method, path and the body in canonical JSON); the
 *   same key with another fingerprint is 422 `idempotency_key_reused`.
 * - While the first request runs, a second with the same key is 409 `idempotency_key_in_use`
 *   (with `Retry-After`): it is not waited for, so no api worker is held by a retry storm.
 * - Stored answers are sealed with SECRETS_KEY: create answers carry one-time secrets.
 *
 * Failure policy: only answers the caller cannot usefully retry are kept. 5xx answers, 429 and
 * errors that are not ours release the key, so the client may retry. A process that dies while
 * holding a key leaves a claim that another request may take over after CLAIM_TIMEOUT_MS.
 */
import { createHash } from 'node:crypto';
import stableStringify from 'fast-json-stable-stringify';
import type { Db } from '#shared/db/knex';
import type { SecretBox } from '#shared/secret-box';
import { ConflictError, UnprocessableError, ValidationError } from '#shared/errors';
import type { Principal } from './auth.ts';

/** How long a key and its answer are kept. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** A claim older than this with no answer is taken to be abandoned (its process died). */
export const CLAIM_TIMEOUT_MS = 60_000;
/** The request header and the replay marker. */
export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'idempotent-replayed';

/** What a key may be: 1–255 visible ASCII characters. */
export const KEY_FORM = /^[\x21-\x7e]{1,255}$/;

/** An answer as it is stored and replayed. */
export interface StoredReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** What a claim found: the key is ours to run with, or a stored answer to replay. */
export type Claim = { kind: 'run'; release(): Promise<void>; complete(reply: StoredReply): Promise<void> } | { kind: 'replay'; reply: StoredReply };

/** 409 while the first request with a key runs; `Retry-After: 1` tells the client when to look again. */
export class KeyInUseError extends ConflictError {
  readonly retryAfterSeconds = 1;
  constructor() {
    super('idempotency_key_in_use', 'a request with this Idempotency-Key is still being processed; retry in a moment', [
      { path: 'headers.idempotency-key', code: 'idempotency_key_in_use', message: 'the first request has not finished' },
    ]);
  }
}

/** The key of a request, or null without the header; a 400 naming the header when malformed. */
export function idempotencyKey(header: string | string[] | undefined): string | null {
  if (header === undefined) return null;
  if (typeof header !== 'string' || !KEY_FORM.test(header)) {
    throw new ValidationError('invalid header: headers.idempotency-key', [
      { path: 'headers.idempotency-key', code: 'invalid_idempotency_key', message: 'one to 255 visible ASCII characters, e.g. a UUID' },
    ]);
  }
  return header;
}

/** Whose key it is: the kind of caller, and for partners the partner and the API key. */
export function callerScope(principal: Principal): string {
  return principal.kind === 'partner' ? `partner:${principal.partnerId}:${principal.keyId}` : principal.kind;
}

/** The fingerprint of a request: method, path and the body in canonical JSON (key order does not matter). */
export function fingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256').update(`${method.toUpperCase()} ${path}\n${stableStringify(body ?? null)}`).digest('hex');
}

/** Whether an answer of this status is kept for replays (see the failure policy above). */
export const storable = (status: number): boolean => status < 500 && status !== 429;

/** The idempotency store over one database and the secret box that seals the answers. */
export function createIdempotencyStore(db: Db, box: SecretBox) {
  async function tryClaim(scope: string, key: string, print: string): Promise<boolean> {
    // One statement: a new key is inserted; an expired one, or an abandoned claim, is taken over.
    const result = await db.raw(
      `insert into idempotency_keys (scope, key, fingerprint, locked_at, expires_at)
       values (?, ?, ?, now(), now() + (? * interval '1 millisecond'))
       on conflict (scope, key) do update
         set fingerprint = excluded.fingerprint, locked_at = now(), expires_at = excluded.expires_at,
             status = null, reply_sealed = null
         where idempotency_keys.expires_at <= now()
            or (idempotency_keys.status is null and idempotency_keys.locked_at < now() - (? * interval '1 millisecond'))
       returning key`,
      [scope, key, print, IDEMPOTENCY_TTL_MS, CLAIM_TIMEOUT_MS],
    );
    return (result.rows as unknown[]).length === 1;
  }

  return {
    /**
     * Claims `key` for this request, or finds what an earlier one with it left: its answer
     * (replay), a 422 when that request differed, a 409 while it still runs.
     */
    async claim(scope: string, key: string, print: string): Promise<Claim> {
      // Two rounds: a row released between the failed claim and the read is claimed again.
      for (let round = 0; round < 2; round++) {
        if (await tryClaim(scope, key, print)) {
          const where = { scope, key };
          return {
            kind: 'run',
            release: async () => {
              await db('idempotency_keys').where(where).whereNull('status').delete();
            },
            complete: async (reply) => {
              await db('idempotency_keys')
                .where(where)
                .update({ status: reply.status, reply_sealed: box.seal(JSON.stringify({ body: reply.body, headers: reply.headers ?? {} })) });
            },
          };
        }
        const row = await db('idempotency_keys').where({ scope, key }).first('fingerprint', 'status', 'reply_sealed');
        if (!row) continue;
        if (row.fingerprint !== print) {
          throw new UnprocessableError(
            'idempotency_key_reused',
            'this Idempotency-Key was used with a different request (method, path or body); use a new key for a new request',
            [{ path: 'headers.idempotency-key', code: 'idempotency_key_reused', message: 'used before with a different request' }],
          );
        }
        if (row.status === null) {
          throw new KeyInUseError();
        }
        const stored = JSON.parse(box.open(row.reply_sealed as string)) as { body?: unknown; headers: Record<string, string> };
        return { kind: 'replay', reply: { status: row.status as number, body: stored.body, headers: stored.headers } };
      }
      throw new KeyInUseError();
    },
  };
}

/** The store `createIdempotencyStore` makes. */
export type IdempotencyStore = ReturnType<typeof createIdempotencyStore>;

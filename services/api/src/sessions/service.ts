import type { Config } from '#shared/config';
import type { Knex } from '#shared/db/knex';
import { AppError, UnprocessableError } from '#shared/errors';
import type { Logger } from '#shared/logger';
import { dispatchMail, withholdSensitive, writeMailIfUser } from '#shared/mail/outbox';
import { signInCodeMail } from '#shared/mail/templates';
import type { Queues } from '#shared/queues/connection';
import { safeEqual } from '#shared/tokens';
import type { Actor, PartnerActor } from '../http/actor.ts';
import type { Principal } from '../http/auth.ts';
import { recordAudit } from '../audit/audit.ts';
import { MAX_CODE_TRIES, createCodeHasher, newSignInCode, type CodeHasher } from './code.ts';
import { insertKey, keyExpiry, revokeKey } from '../api-keys/repository.ts';
import { usersOfAddress } from '../users/repository.ts';
import { consumeSignInCode, countTry, pruneSignInCodes, upsertSignInCode } from './repository.ts';
import type { z } from 'zod';
import type { CurrentCredential, PartnerChoice, SessionIssued } from './schema.ts';

/** What the sign-in service needs. */
export interface SessionDeps {
  db: Knex;
  config: Config;
  queues: Queues;
}

// Verify failures. None says whether the address is registered: an unknown address behaves
// exactly like a registered one whose code is wrong, expired or used up.
const invalidCode = () =>
  new AppError(401, 'invalid_code', 'the code is not right, or no code was sent to this address; ask for a new one if needed', [
    { path: 'body.code', message: 'does not match' },
  ]);
const codeExpired = () =>
  new AppError(401, 'code_expired', 'the code has expired; ask for a new one', [{ path: 'body.code', message: 'expired' }]);
const tooManyAttempts = () =>
  new AppError(429, 'too_many_attempts', `the code allowed ${MAX_CODE_TRIES} tries and is used up; ask for a new one`, [
    { path: 'body.code', message: 'too many tries' },
  ]);

/** E-mail sign-in: one-time codes, and the session tokens they are exchanged for. */
export class SessionService {
  private readonly hashCode: CodeHasher;

  constructor(private readonly deps: SessionDeps) {
    this.hashCode = createCodeHasher(deps.config);
  }

  /**
   * Sends a sign-in code to a registered address; does the same work, minus the mail, for any
   * other. The code row and the mail row are written by the same statements on both paths
   * (each a no-op or a decoy where no user has the address), and the mail is enqueued without
   * waiting, so neither the answer nor its timing tells the two apart.
   */
  async requestSignIn(email: string, log: Logger): Promise<void> {
    const code = newSignInCode();
    const codeHash = this.hashCode(email, code);
    const expiresAt = new Date(Date.now() + this.deps.config.signInCodeTtlMs);
    const mail = withholdSensitive(
      this.deps.config,
      signInCodeMail({ to: email, code, ttlMinutes: Math.round(this.deps.config.signInCodeTtlMs / 60_000) }),
    );
    const mailId = await this.deps.db.transaction(async (trx) => {
      await pruneSignInCodes(trx);
      await upsertSignInCode(trx, email, codeHash, expiresAt);
      return writeMailIfUser(trx, mail);
    });
    dispatchMail(this.deps.queues, [mailId], log);
  }

  /**
   * Exchanges an address and code for a session token. Each try counts, and the count sticks
   * whatever the outcome; the sixth is refused even if right. 401 invalid_code / code_expired,
   * 429 too_many_attempts.
   *
   * A person may be a user of several partners. With the right code and no `partnerId`, an
   * address of several partners gets the list to choose from (`choose_partner`) and the code
   * stays unused; the same code with a `partnerId` from the list then signs in (each of these
   * tries counts too). Only the holder of the code ever sees the list.
   */
  async verify(caller: Actor<null>, email: string, code: string, partnerId: string | undefined): Promise<SessionIssued | PartnerChoice> {
    const offered = this.hashCode(email, code);
    const counted = await countTry(this.deps.db, email);
    if (!counted) throw invalidCode();
    if (counted.attempts > MAX_CODE_TRIES) throw tooManyAttempts();
    if (counted.expiresAt.getTime() <= Date.now()) throw codeExpired();
    if (!safeEqual(offered, counted.codeHash)) throw invalidCode();
    // An address nobody has gets a code nobody is sent; should one still be guessed, it is as wrong.
    const users = await usersOfAddress(this.deps.db, email);
    if (users.length === 0) throw invalidCode();
    const chosen = partnerId === undefined ? (users.length === 1 ? users[0] : undefined) : users.find((u) => u.partnerId === partnerId);
    if (partnerId !== undefined && !chosen) {
      throw new UnprocessableError('unknown_partner', `${email} is not a user of partner ${partnerId}; choose one of its partners`, [
        { path: 'body.partnerId', message: `one of: ${users.map((u) => u.partnerId).join(', ')}` },
      ]);
    }
    if (!chosen) {
      return {
        status: 'choose_partner',
        message: 'This address is a user of several partners: send the same code again with the partnerId to sign in to.',
        partners: users.map((u) => ({ id: u.partnerId, name: u.partnerName })),
      };
    }
    const expiresAt = new Date(Date.now() + this.deps.config.sessionTtlMs);
    return this.deps.db.transaction(async (trx) => {
      if (!(await consumeSignInCode(trx, email, counted.codeHash))) throw invalidCode(); // another try used it first
      const { row, token } = await insertKey(trx, { partnerId: chosen.partnerId, userId: chosen.userId, kind: 'session', expiresAt });
      const principal: Principal = { kind: 'partner', partnerId: chosen.partnerId, userId: chosen.userId, keyId: row.id, keyKind: 'session' };
      await recordAudit(trx, { ...caller, principal }, { action: 'session.start', targetType: 'api_key', targetId: row.id, data: { via: 'email' } });
      return { status: 'signed_in', token, expiresAt: expiresAt.toISOString(), partnerId: chosen.partnerId, userId: chosen.userId };
    });
  }

  /** The credential making this request: its partner, user, kind and expiry (null for a standing key). */
  async currentCredential(actor: PartnerActor): Promise<z.infer<typeof CurrentCredential>> {
    const { principal } = actor;
    const expiresAt = await keyExpiry(this.deps.db, principal.keyId);
    return {
      partnerId: principal.partnerId,
      userId: principal.userId,
      keyId: principal.keyId,
      keyKind: principal.keyKind,
      expiresAt: expiresAt ? expiresAt.toISOString() : null,
    };
  }

  /** Ends the caller's session. A standing API key is not a session: 422 not_a_session. */
  async signOut(actor: PartnerActor): Promise<void> {
    const { principal } = actor;
    if (principal.keyKind !== 'session') {
      throw new UnprocessableError('not_a_session', 'this token is an API key, not a session from e-mail sign-in; nothing was signed out', [
        { path: 'headers.authorization', message: `a ${principal.keyKind} key` },
      ]);
    }
    await this.deps.db.transaction(async (trx) => {
      await revokeKey(trx, principal.keyId);
      await recordAudit(trx, actor, { action: 'session.end', targetType: 'api_key', targetId: principal.keyId });
    });
  }
}

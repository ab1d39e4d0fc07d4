import type { Config } from '#shared/config';
import type { Knex } from '#shared/db/knex';
import { AppError, UnprocessableError } from '#shared/errors';
import type { Logger } from '#shared/logger';
import { dispatchMail, writeMailIfUser } from '#shared/mail/outbox';
import { signInCodeMail } from '#shared/mail/templates';
import type { Queues } from '#shared/queues/connection';
import { safeEqual } from '#shared/tokens';
import type { Actor, PartnerActor } from '../http/actor.ts';
import type { Principal } from '../http/auth.ts';
import { recordAudit } from '../audit/audit.ts';
import { MAX_CODE_TRIES, createCodeHasher, newSignInCode, type CodeHasher } from './code.ts';
import { consumeSignInCode, countTry, insertSession, pruneSignInCodes, revokeKey, upsertSignInCode } from './repository.ts';

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
    const mail = signInCodeMail({ to: email, code, ttlMinutes: Math.round(this.deps.config.signInCodeTtlMs / 60_000) });
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
   */
  async verify(caller: Actor<null>, email: string, code: string): Promise<{ token: string; expiresAt: string }> {
    const offered = this.hashCode(email, code);
    const counted = await countTry(this.deps.db, email);
    if (!counted) throw invalidCode();
    if (counted.attempts > MAX_CODE_TRIES) throw tooManyAttempts();
    if (counted.expiresAt.getTime() <= Date.now()) throw codeExpired();
    if (!safeEqual(offered, counted.codeHash) || !counted.userId) throw invalidCode();
    const expiresAt = new Date(Date.now() + this.deps.config.sessionTtlMs);
    return this.deps.db.transaction(async (trx) => {
      const userId = await consumeSignInCode(trx, email, counted.codeHash);
      if (!userId) throw invalidCode(); // another try used it first
      const user = (await trx('users').where({ id: userId }).first('partner_id')) as { partner_id: string } | undefined;
      if (!user) throw invalidCode();
      const session = await insertSession(trx, user.partner_id, userId, expiresAt);
      const principal: Principal = { kind: 'partner', partnerId: user.partner_id, userId, keyId: session.keyId, keyKind: 'session' };
      await recordAudit(trx, { ...caller, principal }, { action: 'session.start', targetType: 'api_key', targetId: session.keyId, data: { via: 'email' } });
      return { token: session.token, expiresAt: expiresAt.toISOString() };
    });
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

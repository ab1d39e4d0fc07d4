import type { Db, Knex } from '#shared/db/knex';
import { ConflictError, NotFoundError } from '#shared/errors';
import type { PartnerView } from '../partners/schema.ts';
import { isId } from '#shared/ids';
import { writeMail } from '#shared/mail/outbox';
import { invitationMail } from '#shared/mail/templates';
import type { PartnerActor } from '../http/actor.ts';
import { recordAudit } from '../audit/audit.ts';
import type { UserView } from '../partners/schema.ts';
import { findPartner } from '../partners/repository.ts';
import { addUser } from '../partners/service.ts';
import { deleteUser, findUser } from './repository.ts';

export { listUsers } from './repository.ts';

/**
 * Adds a user to the caller's partner (409 `email_taken` if the address has one) and writes the
 * mail that tells them how to sign in, naming who added them. One transaction: the user, the
 * mail row and the audit row commit together; the caller enqueues `mailId` after the commit.
 */
export async function inviteUser(
  db: Knex,
  actor: PartnerActor,
  email: string,
  publicUrl: string | undefined,
): Promise<{ added: { user: UserView; apiKey: string }; mailId: string }> {
  const { partnerId, userId: invitedBy } = actor.principal;
  return db.transaction(async (trx) => {
    const added = await addUser(trx, partnerId, email);
    const [partner, inviter] = await Promise.all([findPartner(trx, partnerId), invitedBy ? findUser(trx, partnerId, invitedBy) : null]);
    const mailId = await writeMail(
      trx,
      invitationMail({ to: added.user.email, partnerName: partner?.name ?? 'your partner account', invitedBy: inviter?.email ?? null, publicUrl }),
    );
    await recordAudit(trx, actor, { action: 'user.added', targetType: 'user', targetId: added.user.id, data: { email: added.user.email } });
    return { added, mailId };
  });
}

/**
 * Removes a user of the caller's partner, audited in the same transaction; its API keys stop
 * working at once (they cascade away). The contact person cannot be removed: 409
 * `contact_person` — a conflict with what the user is, not a flaw in the request. Another
 * partner's user, or a malformed id, is 404.
 */
export async function removeUser(db: Knex, actor: PartnerActor, userId: string): Promise<void> {
  const { partnerId } = actor.principal;
  if (!isId('user', userId)) throw new NotFoundError('user', userId);
  await db.transaction(async (trx) => {
    const user = await findUser(trx, partnerId, userId, { forUpdate: true });
    if (!user) throw new NotFoundError('user', userId);
    if (user.isContact) {
      throw new ConflictError('contact_person', 'the partner’s contact person cannot be removed', [
        { path: 'params.userId', message: 'is the contact person' },
      ]);
    }
    await deleteUser(trx, partnerId, userId);
    await recordAudit(trx, actor, { action: 'user.removed', targetType: 'user', targetId: user.id, data: { email: user.email } });
  });
}

/** The caller's partner and user (null for a key that is not a user's). */
export async function getMe(db: Db, actor: PartnerActor): Promise<{ partner: PartnerView; user: UserView | null }> {
  const { partnerId, userId } = actor.principal;
  const partner = await findPartner(db, partnerId);
  // The key was valid a moment ago; its partner can only be gone if it was deleted since.
  if (!partner) throw new NotFoundError('partner', partnerId);
  const user = userId ? await findUser(db, partnerId, userId) : null;
  return { partner, user };
}

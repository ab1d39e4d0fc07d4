import type { Db } from '#shared/db/knex';
import { ConflictError, NotFoundError } from '#shared/errors';
import { isId } from '#shared/ids';
import { writeMail } from '#shared/mail/outbox';
import { invitationMail } from '#shared/mail/templates';
import type { UserView } from '../partners/schema.ts';
import { findPartner } from '../partners/repository.ts';
import { addUser } from '../partners/service.ts';
import { deleteUser, findUser } from './repository.ts';

/**
 * Adds a user to the partner (409 `email_taken` if the address has one) and writes the mail that
 * tells them how to sign in, naming who added them. Run it in a transaction: the user and the
 * mail row commit together; the caller enqueues `mailId` after the commit.
 */
export async function inviteUser(
  db: Db,
  partnerId: string,
  email: string,
  invitedBy: string | null,
  publicUrl: string | undefined,
): Promise<{ added: { user: UserView; apiKey: string }; mailId: string }> {
  const added = await addUser(db, partnerId, email);
  const [partner, inviter] = await Promise.all([findPartner(db, partnerId), invitedBy ? findUser(db, partnerId, invitedBy) : null]);
  const mailId = await writeMail(
    db,
    invitationMail({ to: added.user.email, partnerName: partner?.name ?? 'your partner account', invitedBy: inviter?.email ?? null, publicUrl }),
  );
  return { added, mailId };
}

/**
 * Removes a user of the partner; its API keys stop working at once (they cascade away).
 * The contact person cannot be removed: 409 `contact_person` — a conflict with what the user
 * is, not a flaw in the request. Another partner's user, or a malformed id, is 404.
 * Run it in a transaction.
 */
export async function removeUser(db: Db, partnerId: string, userId: string): Promise<UserView> {
  if (!isId('user', userId)) throw new NotFoundError('user', userId);
  const user = await findUser(db, partnerId, userId, { forUpdate: true });
  if (!user) throw new NotFoundError('user', userId);
  if (user.isContact) {
    throw new ConflictError('contact_person', 'the partner’s contact person cannot be removed', [
      { path: 'params.userId', message: 'is the contact person' },
    ]);
  }
  await deleteUser(db, partnerId, userId);
  return user;
}

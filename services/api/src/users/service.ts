import type { Db } from '#shared/db/knex';
import { ConflictError, NotFoundError } from '#shared/errors';
import { isId } from '#shared/ids';
import type { UserView } from '../partners/schema.ts';
import { deleteUser, findUser } from './repository.ts';

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
      { path: 'params.id', message: 'is the contact person' },
    ]);
  }
  await deleteUser(db, partnerId, userId);
  return user;
}

import { isUniqueViolation, type Db } from '#shared/db/knex';
import { paginate, type Page, type PageRequest, mapPage } from '../http/pagination.ts';
import type { UserView } from '../partners/schema.ts';

import type { UserRow } from '#shared/db/rows';

/** A user row as the API shows it. */
export const toUser = (row: UserRow): UserView => ({
  id: row.id,
  partnerId: row.partner_id,
  email: row.email,
  isContact: row.is_contact,
  createdAt: row.created_at.toISOString(),
});

/** Stores a new user of a partner; null when the address is already one of its users (the transaction is then aborted). */
export async function insertUser(db: Db, user: { id: string; partnerId: string; email: string; isContact: boolean }): Promise<UserView | null> {
  try {
    const [row] = (await db('users').insert({ id: user.id, partner_id: user.partnerId, email: user.email, is_contact: user.isContact }).returning('*')) as UserRow[];
    return toUser(row!);
  } catch (err) {
    if (isUniqueViolation(err, 'users_partner_email_unique')) return null;
    throw err;
  }
}

/** A user of this partner by id, or null (another partner's user is null too). */
export async function findUser(db: Db, partnerId: string, id: string, options: { forUpdate?: boolean } = {}): Promise<UserView | null> {
  const query = db('users').where({ id, partner_id: partnerId }).first();
  const row = (await (options.forUpdate ? query.forUpdate() : query)) as UserRow | undefined;
  return row ? toUser(row) : null;
}

/** One page of a partner's users, oldest first. */
export async function listUsers(db: Db, partnerId: string, page: PageRequest): Promise<Page<UserView>> {
  const query = db('users').select('users.*').where({ partner_id: partnerId });
  const rows = await paginate<UserRow>(db, query, page, { keys: ['created_at', 'id'] });
  return mapPage(rows, toUser);
}

/** Deletes a user; its API keys go with it (api_keys.user_id cascades). True if a row went. */
export async function deleteUser(db: Db, partnerId: string, id: string): Promise<boolean> {
  return (await db('users').where({ id, partner_id: partnerId }).delete()) > 0;
}

/** A user of an address at one partner, as sign-in offers it. */
export interface AddressUser {
  userId: string;
  partnerId: string;
  partnerName: string;
}

/** Every user with this address, one per partner, by partner name. */
export async function usersOfAddress(db: Db, email: string): Promise<AddressUser[]> {
  const rows = (await db('users')
    .join('partners', 'partners.id', 'users.partner_id')
    .where('users.email', email)
    .orderBy([{ column: 'partners.name' }, { column: 'partners.id' }])
    .select('users.id as user_id', 'partners.id as partner_id', 'partners.name as partner_name')) as {
    user_id: string;
    partner_id: string;
    partner_name: string;
  }[];
  return rows.map((r) => ({ userId: r.user_id, partnerId: r.partner_id, partnerName: r.partner_name }));
}

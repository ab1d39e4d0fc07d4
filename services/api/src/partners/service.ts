import type { Db } from '#shared/db/knex';
import { ConflictError } from '#shared/errors';
import { newId } from '#shared/ids';
import { insertKey } from '../api-keys/repository.ts';
import type { CreatePartnerInput, PartnerView, UserView } from './schema.ts';

import type { PartnerRow, UserRow } from '#shared/db/rows';

/** A partner row as the API shows it. */
export const toPartner = (row: Pick<PartnerRow, 'id' | 'name' | 'contact_email' | 'created_at'>): PartnerView => ({
  id: row.id,
  name: row.name,
  contactEmail: row.contact_email,
  createdAt: row.created_at.toISOString(),
});

/** A user row as the API shows it. */
export const toUser = (row: UserRow): UserView => ({
  id: row.id,
  partnerId: row.partner_id,
  email: row.email,
  isContact: row.is_contact,
  createdAt: row.created_at.toISOString(),
});

const isUniqueViolation = (err: unknown, constraint: string) =>
  (err as { code?: string; constraint?: string }).code === '23505' && (err as { constraint?: string }).constraint === constraint;

/** The name of the key every user is made with. */
export const FIRST_KEY_NAME = 'first key';

/**
 * Adds a user (by e-mail) to a partner with a first API key; 409 if the address is already a
 * user of this partner, naming `field` (the request field the address came from). An address
 * may be a user of other partners too (a consultant working for two): that is no conflict, and
 * the answer is the same as for an address nobody has. Run in a transaction.
 */
export async function addUser(
  db: Db,
  partnerId: string,
  email: string,
  { isContact = false, field = 'body.email' }: { isContact?: boolean; field?: string } = {},
): Promise<{ user: UserView; apiKey: string }> {
  const id = newId('user');
  try {
    const [row] = await db('users').insert({ id, partner_id: partnerId, email, is_contact: isContact }).returning('*');
    const { token } = await insertKey(db, { partnerId, userId: id, kind: 'user', name: FIRST_KEY_NAME });
    return { user: toUser(row as UserRow), apiKey: token };
  } catch (err) {
    if (isUniqueViolation(err, 'users_partner_email_unique')) {
      throw new ConflictError('email_taken', `${email} is already a user of this partner`, [{ path: field, message: 'already a user of this partner' }]);
    }
    throw err;
  }
}

/**
 * Creates a partner with its contact person (a user with an API key). Used by the operator
 * route and by approving an access application. Run it in a transaction: all or nothing.
 */
export async function createPartner(db: Db, input: CreatePartnerInput): Promise<{ partner: PartnerView; user: UserView; apiKey: string }> {
  const id = newId('partner');
  let rows: PartnerRow[];
  try {
    rows = (await db('partners').insert({ id, name: input.name, contact_email: input.contactEmail }).returning('*')) as PartnerRow[];
  } catch (err) {
    if (isUniqueViolation(err, 'partners_name_key')) {
      throw new ConflictError('partner_exists', `a partner named ${input.name} already exists`, [{ path: 'body.name', message: 'already taken' }]);
    }
    throw err;
  }
  const { user, apiKey } = await addUser(db, id, input.contactEmail, { isContact: true, field: 'body.contactEmail' });
  return { partner: toPartner(rows[0]!), user, apiKey };
}

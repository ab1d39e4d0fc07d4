import type { Db, Knex } from '#shared/db/knex';
import { ConflictError, NotFoundError } from '#shared/errors';
import { newId } from '#shared/ids';
import type { Actor } from '../http/actor.ts';
import { recordAudit } from '../audit/audit.ts';
import { insertKey } from '../api-keys/repository.ts';
import { insertUser } from '../users/repository.ts';
import { findPartner, insertPartner } from './repository.ts';

export { listPartners } from './repository.ts';
import type { CreatePartnerInput, PartnerView, UserView } from './schema.ts';

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
  const user = await insertUser(db, { id: newId('user'), partnerId, email, isContact });
  if (!user) throw new ConflictError('email_taken', `${email} is already a user of this partner`, [{ path: field, message: 'already a user of this partner' }]);
  const { token } = await insertKey(db, { partnerId, userId: user.id, kind: 'user', name: FIRST_KEY_NAME });
  return { user, apiKey: token };
}

/**
 * Creates a partner with its contact person (a user with an API key). Used by `onboardPartner`
 * and by approving an access application. Run it in a transaction: all or nothing.
 */
export async function createPartner(db: Db, input: CreatePartnerInput): Promise<{ partner: PartnerView; user: UserView; apiKey: string }> {
  const partner = await insertPartner(db, { id: newId('partner'), name: input.name, contactEmail: input.contactEmail });
  if (!partner) throw new ConflictError('partner_exists', `a partner named ${input.name} already exists`, [{ path: 'body.name', message: 'already taken' }]);
  const { user, apiKey } = await addUser(db, partner.id, input.contactEmail, { isContact: true, field: 'body.contactEmail' });
  return { partner, user, apiKey };
}

/** An operator creates a partner with its contact person: one transaction, with the audit row. 409 as `createPartner`. */
export async function onboardPartner(db: Knex, actor: Actor, input: CreatePartnerInput): Promise<{ partner: PartnerView; user: UserView; apiKey: string }> {
  return db.transaction(async (trx) => {
    const made = await createPartner(trx, input);
    await recordAudit(trx, actor, {
      action: 'partner.created',
      targetType: 'partner',
      targetId: made.partner.id,
      partnerId: made.partner.id,
      data: { name: made.partner.name, contactEmail: made.partner.contactEmail, contactUserId: made.user.id },
    });
    return made;
  });
}

/** One partner, or 404. */
export async function getPartner(db: Db, id: string): Promise<PartnerView> {
  const partner = await findPartner(db, id);
  if (!partner) throw new NotFoundError('partner', id);
  return partner;
}

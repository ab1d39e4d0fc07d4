import type { Knex } from '#shared/db/knex';
import { ConflictError, NotFoundError } from '#shared/errors';
import { isId } from '#shared/ids';
import { writeMail } from '#shared/mail/outbox';
import { applicationApprovedMail, applicationRejectedMail } from '#shared/mail/templates';
import type { Actor } from '../http/actor.ts';
import { recordAudit } from '../audit/audit.ts';
import { createPartner } from '../partners/service.ts';
import { revokeKeysOfUser } from '../api-keys/repository.ts';
import type { PartnerView, UserView } from '../partners/schema.ts';
import { decideApplication, findApplication, findApplicationForUpdate, insertApplication } from './repository.ts';

export { listApplications } from './repository.ts';
import type { ApplicationView, CreateApplicationInput } from './schema.ts';

/** A change made, with the mail to hand to the queue once the transaction has committed. */
export interface WithMail<T> {
  result: T;
  mailId: string;
}

/** Stores an access application from a company that wants to become a partner. */
export async function submitApplication(db: Knex, input: CreateApplicationInput): Promise<ApplicationView> {
  return insertApplication(db, input);
}

/** One application, or 404 (a malformed id too). */
export async function getApplication(db: Knex, id: string): Promise<ApplicationView> {
  const application = isId('application', id) ? await findApplication(db, id) : null;
  if (!application) throw new NotFoundError('application', id);
  return application;
}

async function pendingApplication(trx: Knex.Transaction, id: string): Promise<ApplicationView> {
  const application = isId('application', id) ? await findApplicationForUpdate(trx, id) : null;
  if (!application) throw new NotFoundError('application', id);
  if (application.status !== 'pending') {
    throw new ConflictError('application_decided', `application ${id} was already ${application.status}`);
  }
  return application;
}

/**
 * Approves a pending application: creates the partner and its contact person (as
 * `POST /v1/partners` does) and writes the approval mail, all in one transaction. The contact
 * person's first API key is revoked at once: nobody saw it, and the applicant signs in by
 * e-mail instead, and may then mint standing keys of their own (`POST /v1/api-keys`). An address
 * that is already a user of other partners is no obstacle. 404 unknown id; 409 already decided,
 * or the company name is taken.
 */
export async function approveApplication(
  db: Knex,
  actor: Actor,
  id: string,
  publicUrl: string | undefined,
): Promise<WithMail<{ application: ApplicationView; partner: PartnerView; user: UserView }>> {
  return db.transaction(async (trx) => {
    const pending = await pendingApplication(trx, id);
    let created: Awaited<ReturnType<typeof createPartner>>;
    try {
      created = await createPartner(trx, { name: pending.companyName, contactEmail: pending.contactEmail });
    } catch (err) {
      if (err instanceof ConflictError) {
        throw new ConflictError(err.code, `cannot approve: ${err.message}`, [{ path: 'application.companyName', message: 'already taken' }]);
      }
      throw err;
    }
    const { partner, user } = created;
    await revokeKeysOfUser(trx, user.id);
    const application = await decideApplication(trx, id, { status: 'approved', reason: null, partnerId: partner.id });
    const mailId = await writeMail(trx, applicationApprovedMail({ to: pending.contactEmail, companyName: pending.companyName, publicUrl }));
    await recordAudit(trx, actor, {
      action: 'application.approve',
      targetType: 'application',
      targetId: id,
      partnerId: partner.id,
      data: { partnerId: partner.id, userId: user.id },
    });
    return { result: { application, partner, user }, mailId };
  });
}

/** Rejects a pending application with a reason, and writes the mail telling the applicant. 404 / 409 as approve. */
export async function rejectApplication(
  db: Knex,
  actor: Actor,
  id: string,
  reason: string,
): Promise<WithMail<ApplicationView>> {
  return db.transaction(async (trx) => {
    const pending = await pendingApplication(trx, id);
    const application = await decideApplication(trx, id, { status: 'rejected', reason, partnerId: null });
    const mailId = await writeMail(trx, applicationRejectedMail({ to: pending.contactEmail, companyName: pending.companyName, reason }));
    await recordAudit(trx, actor, { action: 'application.reject', targetType: 'application', targetId: id, data: { reason } });
    return { result: application, mailId };
  });
}

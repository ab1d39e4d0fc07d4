import type { Knex } from '#shared/db/knex';
import type { Actor } from '../http/actor.ts';
import { recordAudit } from '../audit/audit.ts';
import { ConflictError, NotFoundError, UnprocessableError, type ErrorDetail } from '#shared/errors';
import { isId, newId } from '#shared/ids';
import { findPartner } from '../partners/repository.ts';
import { installationExists } from '../installations/repository.ts';
import { findFunction } from '../functions/repository.ts';
import { deleteLegacyGrant, insertLegacyGrant } from './repository.ts';
import type { CreateLegacyGrantInput, LegacyGrantView } from './schema.ts';

export { listLegacyGrants } from './repository.ts';

/**
 * Records a pre-product direct grant (partner, installation, function). An unknown partner is 404
 * (it is the path's resource); an unknown installation or function is 422 `unknown_reference`
 * naming each field; the same grant twice is 409 `legacy_grant_exists`. One transaction, with
 * the audit row.
 */
export async function createLegacyGrant(db: Knex, actor: Actor, partnerId: string, input: CreateLegacyGrantInput): Promise<LegacyGrantView> {
  return db.transaction(async (trx) => {
    if (!isId('partner', partnerId) || !(await findPartner(trx, partnerId))) throw new NotFoundError('partner', partnerId);
    const [installation, fn] = await Promise.all([installationExists(trx, input.installationId), findFunction(trx, input.functionKey)]);
    const details: ErrorDetail[] = [
      ...(installation ? [] : [{ path: 'body.installationId', message: `no installation ${input.installationId}` }]),
      ...(fn ? [] : [{ path: 'body.functionKey', message: `no function ${input.functionKey} in the catalog` }]),
    ];
    if (details.length > 0) throw new UnprocessableError('unknown_reference', details.map((d) => d.message).join('; '), details);
    const grant = await insertLegacyGrant(trx, newId('legacyGrant'), partnerId, input);
    if (!grant) {
      throw new ConflictError('legacy_grant_exists', `partner ${partnerId} already has ${input.functionKey} on ${input.installationId}`, [
        { path: 'body', message: 'the partner already has this grant' },
      ]);
    }
    await recordAudit(trx, actor, {
      action: 'legacy_grant.created',
      targetType: 'legacy_grant',
      targetId: grant.id,
      partnerId: grant.partnerId,
      data: { installationId: grant.installationId, functionKey: grant.functionKey },
    });
    return grant;
  });
}

/** Removes a legacy grant (operators do, once a product covers it), audited; 404 if there is none. */
export async function removeLegacyGrant(db: Knex, actor: Actor, id: string): Promise<void> {
  await db.transaction(async (trx) => {
    const row = isId('legacyGrant', id) ? await deleteLegacyGrant(trx, id) : null;
    if (!row) throw new NotFoundError('legacy grant', id);
    await recordAudit(trx, actor, {
      action: 'legacy_grant.removed',
      targetType: 'legacy_grant',
      targetId: row.id,
      partnerId: row.partner_id,
      data: { installationId: row.installation_id, functionKey: row.function_key },
    });
  });
}

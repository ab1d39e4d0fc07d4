import type { Db } from '#shared/db/knex';
import { ConflictError, NotFoundError, UnprocessableError, type ErrorDetail } from '#shared/errors';
import { isId, newId } from '#shared/ids';
import { findPartner } from '../partners/repository.ts';
import { installationExists } from '../installations/repository.ts';
import { findFunction } from '../functions/repository.ts';
import { deleteLegacyGrant, insertLegacyGrant } from './repository.ts';
import type { CreateLegacyGrantInput, LegacyGrantView } from './schema.ts';

/**
 * Records a pre-product direct grant (partner, installation, function). An unknown partner is 404
 * (it is the path's resource); an unknown installation or function is 422 `unknown_reference`
 * naming each field; the same grant twice is 409 `legacy_grant_exists`. Run in a transaction.
 */
export async function createLegacyGrant(db: Db, partnerId: string, input: CreateLegacyGrantInput): Promise<LegacyGrantView> {
  if (!isId('partner', partnerId) || !(await findPartner(db, partnerId))) throw new NotFoundError('partner', partnerId);
  const [installation, fn] = await Promise.all([installationExists(db, input.installationId), findFunction(db, input.functionKey)]);
  const details: ErrorDetail[] = [
    ...(installation ? [] : [{ path: 'body.installationId', message: `no installation ${input.installationId}` }]),
    ...(fn ? [] : [{ path: 'body.functionKey', message: `no function ${input.functionKey} in the catalog` }]),
  ];
  if (details.length > 0) throw new UnprocessableError('unknown_reference', details.map((d) => d.message).join('; '), details);
  const grant = await insertLegacyGrant(db, newId('legacyGrant'), partnerId, input);
  if (!grant) {
    throw new ConflictError('legacy_grant_exists', `partner ${partnerId} already has ${input.functionKey} on ${input.installationId}`, [
      { path: 'body', message: 'the partner already has this grant' },
    ]);
  }
  return grant;
}

/** Removes a legacy grant (operators do, once a product covers it); 404 if there is none. */
export async function removeLegacyGrant(db: Db, id: string): Promise<{ id: string; partnerId: string; installationId: string; functionKey: string }> {
  const row = isId('legacyGrant', id) ? await deleteLegacyGrant(db, id) : null;
  if (!row) throw new NotFoundError('legacy grant', id);
  return { id: row.id, partnerId: row.partner_id, installationId: row.installation_id, functionKey: row.function_key };
}

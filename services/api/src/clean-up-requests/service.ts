import type { Knex } from '#shared/db/knex';
import { ConflictError, NotFoundError, UnprocessableError } from '#shared/errors';
import { isId, newId } from '#shared/ids';
import type { Actor, PartnerActor } from '../http/actor.ts';
import { recordAudit } from '../audit/audit.ts';
import { coveredLegacyGrants, deleteLegacyGrants } from '../legacy-grants/repository.ts';
import { findPartner } from '../partners/repository.ts';
import { findOpenRequest, findRequestForUpdate, insertRequest, markDone } from './repository.ts';
import type { CleanUpRequestView } from './schema.ts';

export { listRequests } from './repository.ts';

/**
 * Legacy clean-up requests: a partner whose products now cover some of its legacy grants asks
 * the operators to remove those grants. The request records the grants covered at the moment
 * of asking; operators list requests and resolve them, optionally removing the grants that are
 * still covered then (re-checked, so nothing a product stopped covering is taken away).
 */

/** Records the partner's request. 422 `nothing_to_clean_up` if no grant is covered; 409 `clean_up_pending` if one is open. */
export async function requestCleanUp(
  db: Knex,
  actor: PartnerActor,
  note: string,
): Promise<CleanUpRequestView> {
  const { principal } = actor;
  return db.transaction(async (trx) => {
    // Serialises two requests of one partner: the open-request check below cannot race.
    await findPartner(trx, principal.partnerId, { forUpdate: true });
    const open = await findOpenRequest(trx, principal.partnerId);
    if (open) {
      throw new ConflictError('clean_up_pending', `clean-up request ${open.id} is still open; operators will act on it`, [
        { path: 'body', message: `request ${open.id} is open` },
      ]);
    }
    const covered = await coveredLegacyGrants(trx, principal.partnerId);
    if (covered.length === 0) {
      throw new UnprocessableError('nothing_to_clean_up', 'none of your legacy grants is covered by an active, activated product yet', [
        { path: 'body', message: 'no covered legacy grants' },
      ]);
    }
    const request = await insertRequest(trx, {
      id: newId('cleanUpRequest'),
      partnerId: principal.partnerId,
      requestedBy: principal.userId,
      note,
      grants: covered.map((g) => ({ grantId: g.id, installationId: g.installationId, functionKey: g.functionKey, coveredBy: g.coveredBy })),
    });
    await recordAudit(trx, actor, {
      action: 'legacy_clean_up.requested',
      targetType: 'legacy_clean_up_request',
      targetId: request.id,
      data: { grants: request.grants.map((g) => g.grantId) },
    });
    return request;
  });
}

/**
 * Marks a request done; with `removeGrants`, first removes its grants that a product still
 * covers. 404 unknown id; 409 `clean_up_resolved` if already done.
 */
export async function resolveCleanUp(db: Knex, actor: Actor, id: string, removeGrants: boolean) {
  if (!isId('cleanUpRequest', id)) throw new NotFoundError('clean-up request', id);
  return db.transaction(async (trx) => {
    const request = await findRequestForUpdate(trx, id);
    if (!request) throw new NotFoundError('clean-up request', id);
    if (request.status !== 'open') throw new ConflictError('clean_up_resolved', `clean-up request ${id} is already done`);
    const asked = request.grants.map((g) => g.grantId);
    let removed: string[] = [];
    if (removeGrants) {
      const stillCovered = new Set((await coveredLegacyGrants(trx, request.partnerId)).map((g) => g.id));
      const toRemove = asked.filter((grantId) => stillCovered.has(grantId));
      removed = await deleteLegacyGrants(trx, request.partnerId, toRemove);
    }
    const done = await markDone(trx, id);
    await recordAudit(trx, actor, {
      action: 'legacy_clean_up.resolved',
      targetType: 'legacy_clean_up_request',
      targetId: id,
      partnerId: request.partnerId,
      data: { removedGrantIds: removed },
    });
    return { request: done, removedGrantIds: removed, keptGrantIds: asked.filter((g) => !removed.includes(g)) };
  });
}

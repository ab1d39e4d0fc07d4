import type { Db, Knex } from '#shared/db/knex';
import { ConflictError, NotFoundError } from '#shared/errors';
import type { Actor } from '../http/actor.ts';
import { recordAudit } from '../audit/audit.ts';
import { findInstallation, insertInstallation } from './repository.ts';

export { listInstallations } from './repository.ts';
import type { CreateInstallationInput, InstallationView } from './schema.ts';

/**
 * Registers an installation, audited in the same transaction; 409 `installation_exists` when
 * the InstallationID (case-insensitively) is taken.
 */
export async function createInstallation(db: Knex, actor: Actor, input: CreateInstallationInput): Promise<InstallationView> {
  return db.transaction(async (trx) => {
    const created = await insertInstallation(trx, input);
    if (!created) {
      throw new ConflictError('installation_exists', `installation ${input.installationId} already exists`, [
        { path: 'body.installationId', message: 'already registered' },
      ]);
    }
    await recordAudit(trx, actor, { action: 'installation.created', targetType: 'installation', targetId: created.installationId, data: { name: created.name } });
    return created;
  });
}

/** One installation by its InstallationID (any case), or 404. */
export async function getInstallation(db: Db, installationId: string): Promise<InstallationView> {
  const installation = await findInstallation(db, installationId.toUpperCase());
  if (!installation) throw new NotFoundError('installation', installationId);
  return installation;
}

import type { Db } from '#shared/db/knex';
import { ConflictError } from '#shared/errors';
import { insertInstallation } from './repository.ts';
import type { CreateInstallationInput, InstallationView } from './schema.ts';

/** Registers an installation; 409 `installation_exists` when the InstallationID (case-insensitively) is taken. */
export async function createInstallation(db: Db, input: CreateInstallationInput): Promise<InstallationView> {
  const created = await insertInstallation(db, input);
  if (!created) {
    throw new ConflictError('installation_exists', `installation ${input.installationId} already exists`, [
      { path: 'body.installationId', message: 'already registered' },
    ]);
  }
  return created;
}

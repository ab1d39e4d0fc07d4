import type { Db } from '#shared/db/knex';
import { paginate, type Page, type PageRequest, mapPage } from '../http/pagination.ts';
import type { CreateInstallationInput, InstallationView } from './schema.ts';

import type { InstallationRow } from '#shared/db/rows';

const toInstallation = (row: InstallationRow): InstallationView => ({
  installationId: row.id,
  name: row.name,
  createdAt: row.created_at.toISOString(),
});

/** Inserts an installation; null when the InstallationID is taken. */
export async function insertInstallation(db: Db, input: CreateInstallationInput): Promise<InstallationView | null> {
  const rows = (await db('installations')
    .insert({ id: input.installationId, name: input.name })
    .onConflict('id')
    .ignore()
    .returning('*')) as InstallationRow[];
  return rows[0] ? toInstallation(rows[0]) : null;
}

/** One installation by its (upper-case) InstallationID, or null. */
export async function findInstallation(db: Db, installationId: string): Promise<InstallationView | null> {
  const row = (await db('installations').where({ id: installationId }).first()) as InstallationRow | undefined;
  return row ? toInstallation(row) : null;
}

/** True when the installation exists (ids are stored upper-case; pass a normalised one). */
export async function installationExists(db: Db, installationId: string): Promise<boolean> {
  return (await db('installations').where({ id: installationId }).first('id')) !== undefined;
}

/** One page of installations, by InstallationID. */
export async function listInstallations(db: Db, page: PageRequest): Promise<Page<InstallationView>> {
  const rows = await paginate<InstallationRow>(db, db('installations').select('installations.*'), page, { keys: ['id'] });
  return mapPage(rows, toInstallation);
}

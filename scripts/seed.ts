/**
 * `npm run seed`: installs the default function catalog into the database named by DATABASE_URL
 * (migrating it first). Only missing functions are inserted, so operators' edits survive.
 */
import { z } from 'zod';
import { createDb } from '#shared/db/knex';
import { migrateLatest } from '#shared/db/migrate';
import { seedFunctions } from '#shared/db/seeds/functions';

const url = z.string().regex(/^postgres(ql)?:\/\//).safeParse(process.env.DATABASE_URL);
if (!url.success) {
  console.error('DATABASE_URL: must be set to a postgres:// URL');
  process.exit(1);
}
const db = createDb({ url: url.data });
try {
  await migrateLatest(db);
  const inserted = await seedFunctions(db);
  console.log(inserted.length ? `functions added: ${inserted.join(', ')}` : 'function catalog already complete');
} finally {
  await db.destroy();
}

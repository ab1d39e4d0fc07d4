/**
 * `npm run migrate`: brings the database named by DATABASE_URL up to date.
 * With `--seed` (`npm run seed`) it then installs the default function catalog; only missing
 * functions are inserted, so operators' edits survive.
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
  const applied = await migrateLatest(db);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'already up to date');
  if (process.argv.includes('--seed')) {
    const inserted = await seedFunctions(db);
    console.log(inserted.length ? `functions added: ${inserted.join(', ')}` : 'function catalog already complete');
  }
} finally {
  await db.destroy();
}

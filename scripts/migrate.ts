/** `npm run migrate`: brings the database named by DATABASE_URL up to date. */
import { z } from 'zod';
import { createDb } from '#shared/db/knex';
import { migrateLatest } from '#shared/db/migrate';

const url = z.string().regex(/^postgres(ql)?:\/\//).safeParse(process.env.DATABASE_URL);
if (!url.success) {
  console.error('DATABASE_URL: must be set to a postgres:// URL');
  process.exit(1);
}
const db = createDb({ url: url.data });
try {
  const applied = await migrateLatest(db);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'already up to date');
} finally {
  await db.destroy();
}

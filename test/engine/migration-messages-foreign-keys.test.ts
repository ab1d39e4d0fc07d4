import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { migrateLatest } from '#shared/db/migrate';
import { migrations } from '#shared/db/migrations/index';
import { messageIdFor, newId } from '#shared/ids';
import { insertOutcomes } from '#shared/delivery/message-state';
import { insertDeliveredMessage, migrateDownOne, openEarlierRelease } from '../support/migrations.ts';

/**
 * Migration 0015 on a database holding messages: the foreign keys of `messages` go, the rows
 * stay, the attempt writer's statement writes as before; going down adds them again.
 */
const NAMES = Object.keys(migrations);
const MIGRATION = '0015-messages-without-foreign-keys';
const BEFORE = NAMES.slice(0, NAMES.indexOf(MIGRATION));

describe(`migration ${MIGRATION} on an existing database`, () => {
  let db: Knex;
  let schema: string;
  let drop: () => Promise<void>;
  const foreignKeys = async () =>
    ((await db.raw("select conname from pg_constraint where contype = 'f' and conrelid = 'messages'::regclass order by conname")).rows as { conname: string }[]).map((r) => r.conname);

  beforeAll(async () => {
    ({ db, schema, drop } = await openEarlierRelease(BEFORE));
  });
  afterAll(async () => {
    await drop();
  });

  it('drops the two foreign keys, keeps the rows, and going down restores them', async () => {
    expect(BEFORE.at(-1)).toBe('0014-first-success-in-row');
    const { sub, receivedAt, oldId } = await insertDeliveredMessage(db);
    expect(await foreignKeys()).toEqual(['messages_event_id_foreign', 'messages_subscription_id_foreign']);

    expect(await migrateLatest(db, schema)).toEqual([MIGRATION]);
    expect(await foreignKeys()).toEqual([]);
    expect(await db('messages').pluck('id')).toEqual([oldId]);
    // The attempt writer's statement, as it runs after the migration.
    const newMessage = messageIdFor('evt-new', sub.id);
    const written = await insertOutcomes(db, [
      { messageId: newMessage, subscriptionId: sub.id, status: 'succeeded', attempt: 1, nextAttemptAt: null, attemptedAt: new Date(), statusCode: 200, error: null, durationMs: 3, unwritten: { eventId: 'evt-new', createdAt: receivedAt } },
    ]);
    expect([...written]).toEqual([newMessage]);

    await migrateDownOne(db, schema);
    expect(await foreignKeys()).toEqual(['messages_event_id_foreign', 'messages_subscription_id_foreign']);
    await expect(db('messages').insert({ id: newId('message'), event_id: 'evt-missing', subscription_id: sub.id, created_at: receivedAt })).rejects.toMatchObject({ code: '23503' });
  });
});

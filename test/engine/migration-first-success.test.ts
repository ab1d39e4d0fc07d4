import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { migrations } from '#shared/db/migrations/index';
import { messageIdFor } from '#shared/ids';
import { insertOutcomes } from '#shared/delivery/message-state';
import { listAttempts } from '#api/messages/repository';
import { insertDeliveredMessage, migrateDownOne, migrateThrough, openEarlierRelease } from '../support/migrations.ts';

/**
 * Migration 0014 on a database holding attempts from before it: they are listed as before, a
 * first success kept in its message's row is listed beside them, and going down moves the kept
 * ones back into `attempts` under the same ids.
 */
const NAMES = Object.keys(migrations);
const BEFORE = NAMES.slice(0, NAMES.indexOf('0014-first-success-in-row'));

describe('migration 0014-first-success-in-row on an existing database', () => {
  let db: Knex;
  let schema: string;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ db, schema, drop } = await openEarlierRelease(BEFORE));
  });
  afterAll(async () => {
    await drop();
  });

  it('lists the old attempts and the kept first successes alike, and going down loses none', async () => {
    expect(BEFORE.at(-1)).toBe('0013-first-deliveries');
    const { sub, receivedAt, oldId } = await insertDeliveredMessage(db);
    await db('attempts').insert({ message_id: oldId, subscription_id: sub.id, attempt: 1, attempted_at: receivedAt, duration_ms: 12, outcome: 'success', status_code: 200, response_body: 'old ok' });

    // Through 0014 only, so that going down one undoes it.
    await migrateThrough(db, schema, [...BEFORE, '0014-first-success-in-row']);
    expect(await db('knex_migrations').orderBy('id', 'desc').first('name')).toEqual({ name: '0014-first-success-in-row' });
    // Built partition by partition (concurrently where one held rows), each attached: the parent's index is valid.
    const valid = await db.raw("select indisvalid from pg_index where indexrelid = 'messages_first_attempts'::regclass");
    expect(valid.rows).toEqual([{ indisvalid: true }]);
    const children = await db.raw(
      "select count(*)::int as n from pg_inherits where inhparent = 'messages_first_attempts'::regclass",
    );
    const partitions = await db.raw("select count(*)::int as n from pg_inherits where inhparent = 'messages'::regclass");
    expect(children.rows[0].n).toBe(partitions.rows[0].n);
    expect(await listAttempts(db, oldId)).toMatchObject([{ attempt: 1, statusCode: 200, responseBody: 'old ok' }]);

    // The attempt writer's statement: a first delivery's row, with its success in it.
    const newId = messageIdFor('evt-new', sub.id);
    const attemptedAt = new Date(receivedAt.getTime() + 5);
    const inserted = await insertOutcomes(
      db,
      [{ messageId: newId, subscriptionId: sub.id, status: 'succeeded', attempt: 1, nextAttemptAt: null, attemptedAt, statusCode: 204, error: null, durationMs: 7.4, unwritten: { eventId: 'evt-new', createdAt: receivedAt } }],
      [{ responseBody: '', responseBodyBytes: null, responseBodyTruncated: false, responseStatusText: 'No Content', responseHeaders: JSON.stringify({ headers: { 'x-receipt': 'r-1' }, omitted: 0 }) }],
    );
    expect([...inserted]).toEqual([newId]);
    expect(await db('attempts').where('message_id', newId)).toHaveLength(0);
    const [kept] = await listAttempts(db, newId);
    expect(kept).toMatchObject({ attempt: 1, outcome: 'success', statusCode: 204, durationMs: 7, responseStatusText: 'No Content', responseHeaders: { 'x-receipt': 'r-1' } });
    const { first_attempt_id: keptId } = await db('messages').where('id', newId).first('first_attempt_id');
    const { id: oldAttemptId } = await db('attempts').where('message_id', oldId).first('id');
    // An id of the attempts' own sequence: unique among all attempts.
    expect(Number(keptId)).toBeGreaterThan(Number(oldAttemptId));

    await migrateDownOne(db, schema);
    const back = await db('attempts').where('message_id', newId);
    expect(back).toMatchObject([{ id: keptId, attempt: 1, outcome: 'success', status_code: 204, duration_ms: 7, response_status_text: 'No Content' }]);
    expect(Object.keys(await db('messages').where('id', newId).first())).not.toContain('first_attempt_id');
  });
});

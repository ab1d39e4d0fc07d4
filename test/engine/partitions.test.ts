import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { migrateLatest } from '#shared/db/migrate';
import { migrations } from '#shared/db/migrations/index';
import { ensurePartitions, listPartitions } from '#shared/db/partitions';
import { newId } from '#shared/ids';
import { applyRetention } from '#worker/maintenance/prune';
import { listAttempts } from '#api/messages/repository';
import { openEarlierRelease } from '../support/migrations.ts';

/**
 * Migration 0009 on a database holding messages and attempts from before it, then retention on
 * the partitioned tables: old partitions are dropped whole, pending and held messages survive.
 */
const BEFORE = ['0001-portal', '0002-subscriptions', '0003-delivery', '0005-onboarding', '0006-accounts', '0007-attempt-responses', '0008-delivery-limits'];
const DAY = 86_400_000;

describe('partitioned messages and attempts', () => {
  let db: Knex;
  let schema: string;
  let drop: () => Promise<void>;

  async function insertLoose(rows: { events?: object[]; messages?: object[]; attempts?: object[] }): Promise<void> {
    await db.transaction(async (trx) => {
      for (const table of ['events', 'messages', 'attempts'] as const) if (rows[table]?.length) await trx(table).insert(rows[table]);
    });
  }
  const event = (id: string, receivedAt: Date) => ({ id, installation_id: 'inst_1', type: 't', occurred_at: receivedAt, data: '{}', received_at: receivedAt, fanout_at: receivedAt });
  const attempt = (messageId: string, at: Date) => ({ message_id: messageId, subscription_id: 'sub_1', attempt: 1, attempted_at: at, duration_ms: 5, outcome: 'success', status_code: 200 });

  beforeAll(async () => {
    ({ db, schema, drop } = await openEarlierRelease(BEFORE));
    // The subscriptions the messages below belong to (messages keep their foreign keys).
    await db('partners').insert({ id: 'ptn_1', name: 'P', contact_email: 'p@p.test' });
    await db('products').insert({ id: 'prd_1', partner_id: 'ptn_1', name: 'Prod', type: 'rights' });
    await db('functions').insert({ key: 'fn', name: 'Fn' });
    const subs = ['sub_1', 'sub_2', 'sub_a', 'sub_b', ...Array.from({ length: 50 }, (_, i) => `sub_${i}`)];
    await db('subscriptions').insert(
      [...new Set(subs)].map((id) => ({ id, partner_id: 'ptn_1', product_id: 'prd_1', function_key: 'fn', url: 'https://r.test/', event_types: ['t'], secret_sealed: 's' })),
    );
  });
  afterAll(async () => {
    await drop();
  });

  it('migrates an existing database: rows kept, tables partitioned, dedup and ids as before', async () => {
    expect(BEFORE.every((name) => name in migrations)).toBe(true);
    const old = new Date(Date.now() - 40 * DAY);
    const ids = { pending: newId('message'), done: newId('message') };
    await insertLoose({
      events: [event('evt_old', old)],
      messages: [
        { id: ids.pending, event_id: 'evt_old', subscription_id: 'sub_1', status: 'pending', created_at: old },
        { id: ids.done, event_id: 'evt_old', subscription_id: 'sub_2', status: 'succeeded', created_at: old },
      ],
      attempts: [attempt(ids.done, old), attempt(ids.done, new Date())],
    });
    const before = (await db('attempts').orderBy('id').pluck('id')) as number[];

    expect(await migrateLatest(db, schema)).toContain('0009-partitions');

    const kinds = (await db.raw("select relname, relkind from pg_class where relname in ('messages', 'attempts') and relnamespace = ?::regnamespace", [schema])).rows;
    expect(kinds.map((k: { relkind: string }) => k.relkind)).toEqual(['p', 'p']);
    expect((await db('messages').orderBy('id').pluck('id')).sort()).toEqual([ids.pending, ids.done].sort());
    expect(await db('attempts').orderBy('id').pluck('id')).toEqual(before);
    // The old rows sit in their own partition, not in the default one.
    expect(await db('messages_default').count({ n: '*' }).first()).toEqual({ n: 0 });
    expect((await listPartitions(db, 'messages')).length).toBeGreaterThan(5);
    // The id sequence survived the swap: new attempts get fresh ids.
    const [fresh] = await db('attempts').insert(attempt(ids.done, new Date())).returning('id');
    expect(fresh.id).toBeGreaterThan(Math.max(...before));
    // Dedup on (event, subscription, created_at) holds, under the constraint's old name.
    await expect(insertLoose({ messages: [{ id: newId('message'), event_id: 'evt_old', subscription_id: 'sub_1', status: 'pending', created_at: old }] })).rejects.toMatchObject({
      code: '23505',
    });
    expect(await db.raw("select 1 from pg_constraint where conname = 'messages_event_id_subscription_id_unique' and conrelid = 'messages'::regclass")).toMatchObject({ rowCount: 1 });
    // 0015 dropped the foreign keys 0009 recreated (test/engine/migration-messages-foreign-keys.test.ts).
    expect((await db.raw("select conname from pg_constraint where contype = 'f' and conrelid = 'messages'::regclass")).rows).toEqual([]);
  });

  it('retention drops whole old partitions; pending and held messages survive', async () => {
    const now = new Date();
    const ago = (days: number) => new Date(now.getTime() - days * DAY);
    await ensurePartitions(db, 'messages', { from: ago(120), to: now });
    await ensurePartitions(db, 'attempts', { from: ago(60), to: now });
    // Week-old partition 100 days back: only finished messages. 70 days back: one held among them.
    const gone = Array.from({ length: 50 }, () => newId('message'));
    const finishedBesideHeld = newId('message');
    const held = newId('message');
    const recent = newId('message');
    // First successes kept in their rows (0014): one past the attempts' cut (its message within the messages'), one inside it.
    const keptOld = newId('message');
    const keptRecent = newId('message');
    const kept = (id: string, eventId: string, at: Date, attemptId: number) => ({
      id, event_id: eventId, subscription_id: 'sub_a', status: 'succeeded', attempts: 1, created_at: at,
      first_attempt_id: attemptId, first_attempted_at: new Date(at.getTime() + 5), first_duration_ms: 3, first_status_code: 200,
      first_response_body: 'ok', first_response_body_truncated: false, first_response_status_text: 'OK',
    });
    await insertLoose({
      events: [event('evt_100', ago(100)), event('evt_70', ago(70)), event('evt_now', now), event('evt_20', ago(20)), event('evt_5', ago(5))],
      messages: [
        ...gone.map((id, i) => ({ id, event_id: 'evt_100', subscription_id: `sub_${i}`, status: i % 2 ? 'succeeded' : 'dead', created_at: ago(100) })),
        { id: held, event_id: 'evt_70', subscription_id: 'sub_a', status: 'held', created_at: ago(70) },
        { id: finishedBesideHeld, event_id: 'evt_70', subscription_id: 'sub_b', status: 'succeeded', created_at: ago(70) },
        { id: recent, event_id: 'evt_now', subscription_id: 'sub_a', status: 'succeeded', created_at: now },
        kept(keptOld, 'evt_20', ago(20), 900_001),
        kept(keptRecent, 'evt_5', ago(5), 900_002),
      ],
      attempts: [...gone.map((id) => attempt(id, ago(50))), attempt(recent, now)],
    });
    const messagePartitionsBefore = (await listPartitions(db, 'messages')).map((p) => p.name);

    const result = await applyRetention(db, { messagesMs: 30 * DAY, attemptsMs: 14 * DAY }, now);

    const messagePartitionsAfter = (await listPartitions(db, 'messages')).map((p) => p.name);
    const oldest = messagePartitionsBefore[0]!;
    expect(messagePartitionsBefore).toContain(oldest);
    expect(messagePartitionsAfter).not.toContain(oldest);
    expect(result.droppedPartitions).toContain(oldest);
    expect(await db('messages').whereIn('id', gone).count({ n: '*' }).first()).toEqual({ n: 0 });
    expect(await db('attempts').whereIn('message_id', gone).count({ n: '*' }).first()).toEqual({ n: 0 });
    // The partition holding a held message is kept; its finished neighbour is deleted row by row.
    expect((await db('messages').where({ id: held }).first()).status).toBe('held');
    expect(await db('messages').where({ id: finishedBesideHeld }).first()).toBeUndefined();
    expect(result.keptPartitions.length).toBeGreaterThan(0);
    // The 40-day-old pending message from before the migration survives too; recent rows are untouched.
    expect(await db('messages').where({ status: 'pending' }).count({ n: '*' }).first()).toEqual({ n: 1 });
    expect(await db('messages').where({ id: recent }).first()).toBeDefined();
    expect(await db('attempts').where({ message_id: recent }).count({ n: '*' }).first()).toEqual({ n: 1 });
    // A kept first success goes at the attempts' cut; its message stays to the messages' one.
    expect(await db('messages').where({ id: keptOld }).first('status', 'first_attempt_id', 'first_response_body')).toEqual({ status: 'succeeded', first_attempt_id: null, first_response_body: null });
    expect(await listAttempts(db, keptOld)).toEqual([]);
    expect(await listAttempts(db, keptRecent)).toMatchObject([{ attempt: 1, statusCode: 200, responseBody: 'ok' }]);
    // Old partitions are dropped, not only emptied: none ends before the cut any more, bar kept ones.
    const cut = now.getTime() - 14 * DAY - DAY;
    expect((await listPartitions(db, 'attempts')).filter((p) => p.to.getTime() < cut)).toEqual([]);
  });

  it('makes partitions ahead and moves stragglers out of the default partition', async () => {
    const future = new Date(Date.now() + 200 * DAY);
    const id = newId('message');
    await insertLoose({ events: [event('evt_future', future)], messages: [{ id, event_id: 'evt_future', subscription_id: 'sub_1', status: 'pending', created_at: future }] });
    expect(await db('messages_default').where({ id }).first()).toBeDefined();
    const created = await ensurePartitions(db, 'messages', { from: future, to: future });
    expect(created).toHaveLength(1);
    expect(await db('messages_default').where({ id }).first()).toBeUndefined();
    expect(await db(created[0]!).where({ id }).first()).toBeDefined();
  });
});

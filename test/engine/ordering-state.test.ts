import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Knex } from '#shared/db/knex';
import { migrateLatest } from '#shared/db/migrate';
import { migrations } from '#shared/db/migrations/index';
import { claimMessages, entityHeads, orphanedHeads } from '#shared/delivery/message-state';
import { randomText } from '#shared/ids';
import { loadConfig } from '#shared/config';
import { insertEvents } from '#api/events/repository';
import { testEnv } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { migrateThrough } from '../support/migrations.ts';

/** Entity ordering in Postgres: migration 0011 on a database an earlier release left (rows kept unordered, new ones ordered), the claim that takes only an entity's head, and the reconciler's lost heads. */
const BEFORE = Object.keys(migrations).filter((name) => name < '0011');
const FROM_0011 = Object.keys(migrations).filter((name) => name >= '0011');

describe('entity ordering in Postgres', () => {
  const schema = `t_${randomText(10)}`;
  let db: Knex;

  beforeAll(async () => {
    db = createDb({ url: loadConfig(testEnv()).databaseUrl, schema });
    await db.raw('create schema ??', [schema]);
    await migrateThrough(db, schema, BEFORE);
  });
  afterAll(async () => {
    await db.raw('drop schema if exists ?? cascade', [schema]);
    await db.destroy();
  });

  it('keeps old rows (ordering none, no publication order) and orders new ones', async () => {
    await db('partners').insert({ id: 'ptn_1', name: 'P', contact_email: 'p@p.test' });
    await db('products').insert({ id: 'prd_1', partner_id: 'ptn_1', name: 'Prod', type: 'rights' });
    await db('functions').insert({ key: 'fn', name: 'Fn' });
    await db('subscriptions').insert({ id: 'sub_1', partner_id: 'ptn_1', product_id: 'prd_1', function_key: 'fn', url: 'https://r.test/', event_types: ['t'], secret_sealed: 's' });
    const now = new Date();
    await db('events').insert({ id: 'evt_old', installation_id: 'I1', type: 't', entity_id: 'e1', occurred_at: now, data: '{}', fanout_at: null });
    await db('messages').insert({ id: 'msg_old', event_id: 'evt_old', subscription_id: 'sub_1', status: 'pending', next_attempt_at: now, created_at: now });

    expect(await migrateLatest(db, schema)).toEqual(FROM_0011);
    expect(FROM_0011[0]).toBe('0011-entity-ordering');

    expect(await db('subscriptions').where({ id: 'sub_1' }).first('ordering')).toEqual({ ordering: 'none' });
    expect(await db('events').where({ id: 'evt_old' }).first('seq')).toEqual({ seq: null });
    expect(await db('messages').where({ id: 'msg_old' }).first('entity_key', 'seq')).toEqual({ entity_key: null, seq: null });
    await expect(db('subscriptions').where({ id: 'sub_1' }).update({ ordering: 'fifo' })).rejects.toThrow(/subscriptions_ordering_check/);

    // New events take the sequence; an old unfanned event (no seq) holds nothing back.
    await db('events').insert([
      { id: 'evt_1', installation_id: 'I1', type: 't', entity_id: 'e1', occurred_at: now, data: '{}', fanout_at: now },
      { id: 'evt_2', installation_id: 'I1', type: 't', entity_id: 'e1', occurred_at: now, data: '{}', fanout_at: now },
    ]);
    const seqs = (await db('events').whereIn('id', ['evt_1', 'evt_2']).orderBy('id').pluck('seq')).map(Number);
    expect(seqs[1]).toBeGreaterThan(seqs[0]!);
    const ordered = (id: string, eventId: string, seq: number) => ({ id, event_id: eventId, subscription_id: 'sub_1', status: 'pending', next_attempt_at: now, created_at: now, entity_key: 'I1/e1', seq });
    await db('messages').insert([ordered('msg_1', 'evt_1', seqs[0]!), ordered('msg_2', 'evt_2', seqs[1]!)]);

    // Only the head is taken; the second is set waiting; the old one is unordered and goes.
    const claimed = await claimMessages(db, ['msg_old', 'msg_1', 'msg_2'], 30_000, 'owner-1');
    expect(claimed.map((c) => c.id).sort()).toEqual(['msg_1', 'msg_old']);
    expect(await db('messages').where({ id: 'msg_2' }).first('next_attempt_at', 'lease_owner')).toEqual({ next_attempt_at: null, lease_owner: null });
    expect(await entityHeads(db, [{ entityKey: 'I1/e1', subscriptionId: 'sub_1' }])).toEqual(['msg_1']);
  });

  it('lets the reconciler find a head whose hand-on was lost, not before nothing earlier is unfinished', async () => {
    expect(await orphanedHeads(db, 100)).toEqual([]);
    // The head's outcome committed, and its worker died before handing on.
    await db('messages').where({ id: 'msg_1' }).update({ status: 'succeeded', lease_owner: null, next_attempt_at: null });
    expect(await orphanedHeads(db, 100)).toEqual([{ id: 'msg_2', attempts: 0, subscriptionId: 'sub_1' }]);
    // An earlier event of the entity not yet fanned out: its messages may not exist yet, so msg_2 waits for it.
    const seq2 = Number((await db('messages').where({ id: 'msg_2' }).first('seq')).seq);
    await db('events').insert({ id: 'evt_late', installation_id: 'I1', type: 't', entity_id: 'e1', occurred_at: new Date(), data: '{}', fanout_at: null, seq: seq2 - 1 });
    expect(await orphanedHeads(db, 100)).toEqual([]);
    expect(await claimMessages(db, ['msg_2'], 30_000, 'owner-2')).toEqual([]);
    await db('events').where({ id: 'evt_late' }).update({ fanout_at: new Date() });
    expect(await orphanedHeads(db, 100)).toEqual([{ id: 'msg_2', attempts: 0, subscriptionId: 'sub_1' }]);
    expect((await claimMessages(db, ['msg_2'], 30_000, 'owner-2')).map((c) => c.id)).toEqual(['msg_2']);
    expect(await orphanedHeads(db, 100)).toEqual([]);
  });

  it('stores two batches naming one entity one after the other, so seq order is commit order', async () => {
    const event = (id: string, entityId: string) => ({ id, installationId: 'I1', type: 't', entityId, occurredAt: new Date().toISOString(), data: {} });
    const first = await db.transaction();
    let second: Promise<string[]>;
    try {
      await insertEvents(first, [event('evt_c1', 'e9')]);
      // A second batch for the same entity waits on the first's lock, before taking its seq ...
      let secondDone = false;
      second = insertEvents(db, [event('evt_c2', 'e9')]).then((stored) => {
        secondDone = true;
        return stored.map((s) => s.id);
      });
      // (Entities are locked by bucket, hashtext(key) & 127.)
      await eventually(async () => Number((await db.raw("select count(*) as n from pg_locks where locktype = 'advisory' and classid = 1711 and objid = (hashtext('I1/e9') & 127)::oid and not granted")).rows[0].n) > 0, 'the second batch waits on the entity lock');
      // ... while a batch for an entity of another bucket goes through (e11's is not e9's).
      expect((await db.raw("select (hashtext('I1/e9') & 127) <> (hashtext('I1/e11') & 127) as apart")).rows[0].apart).toBe(true);
      expect((await insertEvents(db, [event('evt_c3', 'e11')])).map((s) => s.id)).toEqual(['evt_c3']);
      expect(secondDone).toBe(false);
      await first.commit();
    } finally {
      if (!first.isCompleted()) await first.rollback();
    }
    expect(await second).toEqual(['evt_c2']);
    const seqs = Object.fromEntries((await db('events').whereIn('id', ['evt_c1', 'evt_c2']).select('id', 'seq')).map((r: { id: string; seq: string }) => [r.id, Number(r.seq)]));
    expect(seqs.evt_c2).toBeGreaterThan(seqs.evt_c1!);
  });
});

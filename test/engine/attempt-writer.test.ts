import { createServer, connect, type Server, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Knex } from '#shared/db/knex';
import { messageIdFor, newId } from '#shared/ids';
import { listAttempts } from '#api/messages/repository';
import { RetrySchedule } from '#shared/delivery/retry-schedule';
import { claimMessages } from '#shared/delivery/message-state';
import { createMetrics, metricValue } from '#shared/metrics';
import { AttemptWriter, type AttemptRecord } from '#worker/delivery/attempt-writer';
import { metricsObserver } from '#worker/delivery/metrics-observer';
import { HOSTILE_BODIES } from '../support/receiver.ts';
import { eventually } from '../support/poll.ts';
import { startTestContext, type TestContext } from '../support/context.ts';
import { insertFunction, insertPartner, insertProduct, insertSubscription } from '../support/fixtures.ts';

/** A succeeded attempt of a message that does not exist (attempts carry no foreign keys). */
function record(over: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    messageId: newId('message'),
    subscriptionId: 'sub_writer_test',
    attempt: 1,
    attemptedAt: new Date(),
    durationMs: 12,
    outcome: 'success',
    statusCode: 200,
    error: null,
    errorMessage: null,
    response: { statusText: 'OK', headers: { 'content-type': 'text/plain' }, body: Buffer.from('fine'), bytesRead: 4 },
    status: 'succeeded',
    nextAttemptAt: null,
    reachedReceiver: true,
    ...over,
  };
}

/**
 * A TCP proxy in front of the shared Postgres that the test can cut: "down" destroys every
 * connection and refuses new ones, as a stopped or unreachable Postgres does, without touching
 * the Postgres everyone else's tests use.
 */
async function startCuttableProxy(target: URL): Promise<{ url: string; down(): void; up(): void; close(): Promise<void> }> {
  let isDown = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (isDown) return void client.destroy();
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target.href);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.href,
    down() {
      isDown = true;
      for (const s of sockets) s.destroy();
    },
    up() {
      isDown = false;
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('the attempt writer', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext({ captureLogs: true });
  });
  afterAll(async () => {
    await ctx.stop();
  });

  const writer = (db: Knex, metrics = createMetrics({ defaultMetrics: false }), options: Partial<ConstructorParameters<typeof AttemptWriter>[4]> = {}) =>
    new AttemptWriter(db, new RetrySchedule(ctx.redis, ctx.queuePrefix), ctx.logger, metricsObserver(metrics), { disableAfterMs: 86_400_000, maxBackoffMs: 200, ...options });

  it('records bodies with NUL and invalid UTF-8 bytes exactly, beside plain ones, in one batch', async () => {
    const w = writer(ctx.db);
    const nul = record({ response: { statusText: 'OK', headers: { 'x-nul': 'a\u0000b' }, body: HOSTILE_BODIES.nul, bytesRead: HOSTILE_BODIES.nul.length } });
    const invalid = record({ response: { statusText: 'OK\u0000', headers: {}, body: HOSTILE_BODIES.invalidUtf8, bytesRead: 10_000_000 } });
    const plain = Array.from({ length: 20 }, () => record());
    await Promise.all([nul, invalid, ...plain].map((r) => w.add(r)));

    const rows = await ctx.db('attempts').whereIn('message_id', [nul.messageId, invalid.messageId]).orderBy('id');
    expect(rows.map((r) => Buffer.from(r.response_body_bytes).equals(r.message_id === nul.messageId ? HOSTILE_BODIES.nul : HOSTILE_BODIES.invalidUtf8))).toEqual([true, true]);
    expect(rows[0].response_body).toBe('ok\uFFFDafter a NUL\uFFFD');
    expect(rows[0].response_headers).toEqual({ headers: { 'x-nul': 'a\uFFFDb' }, omitted: 0 });
    expect(rows[1]).toMatchObject({ response_body_truncated: true, response_status_text: 'OK\uFFFD' });
    expect(await ctx.db('attempts').whereIn('message_id', plain.map((r) => r.messageId)).where({ response_body: 'fine' }).whereNull('response_body_bytes').count({ n: '*' }).first()).toEqual({ n: 20 });
    expect(w.health()).toMatchObject({ committing: true, buffered: 0 });
  });

  it('keeps a first success in the row it writes when told to; a failure, a minimal record and a row written before stay attempt rows', async () => {
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated'] });
    const partner = await insertPartner(ctx.db);
    const productId = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    const subs = await Promise.all(
      [0, 1, 2, 3].map((i) => insertSubscription(ctx.db, { partnerId: partner.partnerId, productId, functionKey: 'estates.read', url: `https://r.test/${i}`, eventTypes: ['estate.updated'] })),
    );
    const receivedAt = new Date(Date.now() - 1_000);
    const firstOf = async (keepFirstSuccessInRow: boolean) => {
      const eventId = newId('event');
      await ctx.db('events').insert({ id: eventId, installation_id: 'MSVPAR', type: 'estate.updated', occurred_at: receivedAt, data: {}, received_at: receivedAt, fanout_at: receivedAt });
      const first = (i: number, over: Partial<AttemptRecord> = {}) =>
        record({ messageId: messageIdFor(eventId, subs[i]!.id), subscriptionId: subs[i]!.id, unwritten: { eventId, createdAt: receivedAt, owner: 'test' }, ...over });
      const records = [
        first(0),
        // An int column cannot hold it: the batch fails, the record is cut down to a minimal one.
        first(1, { durationMs: 1e12 }),
        first(2, { outcome: 'failure', statusCode: 500, status: 'pending', nextAttemptAt: new Date(Date.now() + 60_000) }),
        first(3),
      ];
      // The fourth's row exists already (another worker wrote it after a lapsed lease): its success moves it on.
      await ctx.db('messages').insert({ id: records[3]!.messageId, event_id: eventId, subscription_id: subs[3]!.id, status: 'pending', created_at: receivedAt });
      const w = writer(ctx.db, undefined, { keepFirstSuccessInRow });
      await Promise.all(records.map((r) => w.add(r)));
      const rows = await ctx.db('attempts').whereIn('message_id', records.map((r) => r.messageId)).select('message_id', 'error');
      const messages = await ctx.db('messages').whereIn('id', records.map((r) => r.messageId)).select('id', 'status', 'first_attempt_id', 'first_response_body');
      const byId = new Map(messages.map((m) => [m.id, m]));
      return { records, rows, byId, shown: await Promise.all(records.map((r) => listAttempts(ctx.db, r.messageId))) };
    };

    const kept = await firstOf(true);
    expect(kept.byId.get(kept.records[0]!.messageId)).toMatchObject({ status: 'succeeded', first_attempt_id: expect.any(Number), first_response_body: 'fine' });
    expect(kept.rows.map((r) => r.message_id).sort()).toEqual([kept.records[1]!.messageId, kept.records[2]!.messageId, kept.records[3]!.messageId].sort());
    expect(kept.rows.find((r) => r.message_id === kept.records[1]!.messageId)?.error).toBe('unrecordable_response');
    for (const i of [1, 2, 3]) expect(kept.byId.get(kept.records[i]!.messageId)?.first_attempt_id).toBeNull();
    expect(kept.byId.get(kept.records[3]!.messageId)?.status).toBe('succeeded');
    // Each shows its one attempt, wherever it lives.
    expect(kept.shown.map((a) => a.map((x) => [x.attempt, x.statusCode, x.error]))).toEqual([
      [[1, 200, null]],
      [[1, 200, 'unrecordable_response']],
      [[1, 500, null]],
      [[1, 200, null]],
    ]);

    // Not told to (attempts kept for less time than messages): every attempt is a row.
    const rows = await firstOf(false);
    expect(rows.rows).toHaveLength(4);
    expect([...rows.byId.values()].every((m) => m.first_attempt_id === null)).toBe(true);
  });

  it('isolates a row Postgres refuses: the others are written whole, it is written minimal, or dropped, and nothing waits', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const w = writer(ctx.db, metrics);
    // An int column cannot hold these: the batch fails in Postgres, whatever the response.
    const tooSlow = record({ durationMs: 1e12 });
    const unwritable = record({ attempt: 3_000_000_000 });
    const good = Array.from({ length: 41 }, () => record());
    const all = [...good.slice(0, 20), tooSlow, ...good.slice(20, 30), unwritable, ...good.slice(30)];
    await Promise.all(all.map((r) => w.add(r)));

    const written = await ctx.db('attempts').whereIn('message_id', all.map((r) => r.messageId)).select('message_id', 'response_body', 'error', 'error_message', 'duration_ms');
    const byId = new Map(written.map((r) => [r.message_id, r]));
    expect(good.every((r) => byId.get(r.messageId)?.response_body === 'fine')).toBe(true);
    expect(byId.get(tooSlow.messageId)).toMatchObject({ response_body: null, error: 'unrecordable_response', duration_ms: 0 });
    expect(byId.get(tooSlow.messageId)!.error_message).toMatch(/could not be recorded as received \(.*out of range.*\)/);
    expect(byId.has(unwritable.messageId)).toBe(false);
    expect(written).toHaveLength(42);
    expect(await metricValue(metrics, 'hubhook_attempt_records_unwritable_total', { fate: 'minimal' })).toBe(1);
    expect(await metricValue(metrics, 'hubhook_attempt_records_unwritable_total', { fate: 'dropped' })).toBe(1);
    expect(ctx.logs.some((line) => line.includes('isolating the failing rows'))).toBe(true);
    expect(w.health()).toMatchObject({ committing: true, buffered: 0 });
  });

  it('while Postgres cannot be reached, holds the outcomes and says so; writes every one when it is back', async () => {
    const proxy = await startCuttableProxy(new URL(ctx.config.databaseUrl));
    const db = createDb({ url: proxy.url, schema: ctx.schema, poolMax: 4 });
    db.client.config.acquireConnectionTimeout = 1_000;
    const metrics = createMetrics({ defaultMetrics: false });
    const w = writer(db, metrics);
    try {
      await w.add(record());
      proxy.down();
      const held = Array.from({ length: 30 }, () => record());
      let settled = 0;
      const writes = held.map((r) => w.add(r).then(() => settled++));

      const health = await eventually(() => (w.health().committing ? null : w.health()), { timeoutMs: 30_000 });
      expect(health).toMatchObject({ committing: false, buffered: 30 });
      expect(health.failingSince).toBeInstanceOf(Date);
      expect(await metricValue(metrics, 'hubhook_attempt_writer_failing')).toBe(1);
      await eventually(() => ctx.logs.some((line) => line.includes('attempt writer cannot commit')), { timeoutMs: 15_000 });
      expect(settled).toBe(0);

      proxy.up();
      await Promise.all(writes);
      expect(await ctx.db('attempts').whereIn('message_id', held.map((r) => r.messageId)).count({ n: '*' }).first()).toEqual({ n: 30 });
      expect(w.health()).toMatchObject({ committing: true, buffered: 0, bufferedBytes: 0, failingSince: null });
      expect(await metricValue(metrics, 'hubhook_attempt_writer_failing')).toBe(0);
      expect(await metricValue(metrics, 'hubhook_attempt_records_unwritable_total', { fate: 'dropped' })).toBe(0);
      expect(ctx.logs.some((line) => line.includes('attempt writer commits again'))).toBe(true);
    } finally {
      proxy.up();
      await db.destroy();
      await proxy.close();
    }
  });

  it('past maxBufferedBytes while Postgres is down, drops new outcomes (counted) instead of growing', async () => {
    const proxy = await startCuttableProxy(new URL(ctx.config.databaseUrl));
    const db = createDb({ url: proxy.url, schema: ctx.schema, poolMax: 2 });
    db.client.config.acquireConnectionTimeout = 1_000;
    const metrics = createMetrics({ defaultMetrics: false });
    const w = writer(db, metrics, { maxBufferedBytes: 8 * 1024 });
    const dropped = () => metricValue(metrics, 'hubhook_attempt_records_unwritable_total', { fate: 'dropped' });
    try {
      proxy.down();
      const kept: AttemptRecord[] = [];
      const writes: Promise<void>[] = [];
      let extra: AttemptRecord | undefined;
      for (let i = 0; i < 100 && !extra; i++) {
        const r = record();
        const write = w.add(r);
        if ((await dropped()) === 1) extra = r;
        else {
          kept.push(r);
          writes.push(write);
        }
      }
      expect(extra).toBeDefined();
      expect(kept.length).toBeGreaterThan(3);
      expect(w.health().bufferedBytes).toBeLessThanOrEqual(8 * 1024);
      proxy.up();
      await Promise.all(writes);
      const ids = (await ctx.db('attempts').whereIn('message_id', [...kept, extra!].map((r) => r.messageId)).pluck('message_id')) as string[];
      expect(ids.sort()).toEqual(kept.map((r) => r.messageId).sort());
    } finally {
      proxy.up();
      await db.destroy();
      await proxy.close();
    }
  });

  it("writes a message back untried only while it is still under the lease it was held by, not once another worker's claim replaced it", async () => {
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated'] });
    const partner = await insertPartner(ctx.db);
    const productId = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    const sub = await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId, functionKey: 'estates.read', url: 'https://r.test/lease', eventTypes: ['estate.updated'] });
    const at = new Date(Date.now() - 1_000);
    const message = async () => {
      const eventId = newId('event');
      await ctx.db('events').insert({ id: eventId, installation_id: 'MSVPAR', type: 'estate.updated', occurred_at: at, data: {}, received_at: at, fanout_at: at });
      const id = messageIdFor(eventId, sub.id);
      await ctx.db('messages').insert({ id, event_id: eventId, subscription_id: sub.id, status: 'pending', attempts: 1, next_attempt_at: at, created_at: at });
      return id;
    };
    const [lapsed, held] = [await message(), await message()];
    // Worker A claims both; A's lease on the first lapses and worker B claims it.
    expect(await claimMessages(ctx.db, [lapsed, held], 60_000, 'worker-a')).toHaveLength(2);
    await ctx.db('messages').where({ id: lapsed }).update({ next_attempt_at: at });
    expect(await claimMessages(ctx.db, [lapsed], 60_000, 'worker-b')).toHaveLength(1);
    const before = await ctx.db('messages').where({ id: lapsed }).first('next_attempt_at', 'lease_owner');

    // A, late, writes both back (a lane too slow, a circuit open): untried, due in ten minutes.
    const later = new Date(Date.now() + 600_000);
    const untried = (messageId: string) =>
      record({ messageId, subscriptionId: sub.id, attempt: null, attemptsMade: 1, leaseOwner: 'worker-a', outcome: 'failure', statusCode: null, response: null, status: 'pending', nextAttemptAt: later, reachedReceiver: false });
    const w = writer(ctx.db);
    await Promise.all([w.add(untried(lapsed)), w.add(untried(held))]);

    // B's lease stands on the one it took over; the one still A's is written back.
    expect(await ctx.db('messages').where({ id: lapsed }).first('next_attempt_at', 'lease_owner')).toEqual(before);
    expect(before.lease_owner).toBe('worker-b');
    expect(await ctx.db('messages').where({ id: held }).first('status', 'next_attempt_at', 'lease_owner', 'attempts')).toEqual({ status: 'pending', next_attempt_at: later, lease_owner: null, attempts: 1 });
  });

  it('does not keep the response a record came with while the record waits (only its storable parts)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const proxy = await startCuttableProxy(new URL(ctx.config.databaseUrl));
    const db = createDb({ url: proxy.url, schema: ctx.schema, poolMax: 2 });
    db.client.config.acquireConnectionTimeout = 1_000;
    const w = writer(db);
    try {
      proxy.down();
      // Made in a scope of their own, so that only the writer can hold the responses.
      const add = () => {
        const held = Array.from({ length: 20 }, () => record({ response: { statusText: 'OK', headers: { 'x-big': 'h'.repeat(500) }, body: Buffer.from('fine'), bytesRead: 4 } }));
        return { ids: held.map((r) => r.messageId), responses: held.map((r) => new WeakRef(r.response!)), writes: held.map((r) => w.add(r)) };
      };
      const { ids, responses, writes } = add();
      await eventually(() => !w.health().committing, { timeoutMs: 30_000 });
      expect(w.health().buffered).toBe(20);
      // A WeakRef holds its target until the current job ends.
      await new Promise((resolve) => setImmediate(resolve));
      gc();
      expect(responses.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);

      proxy.up();
      await Promise.all(writes);
      const rows = await ctx.db('attempts').whereIn('message_id', ids).select('response_body', 'response_headers');
      expect(rows).toHaveLength(20);
      expect(rows.every((r) => r.response_body === 'fine' && (r.response_headers as { headers: Record<string, string> }).headers['x-big'] === 'h'.repeat(500))).toBe(true);
    } finally {
      proxy.up();
      await db.destroy();
      await proxy.close();
    }
  });
});

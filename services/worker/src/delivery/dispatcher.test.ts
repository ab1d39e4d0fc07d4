import { describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import type { PostResult, Transport } from '#shared/http/transport';
import { createRetryPolicy } from '#shared/delivery/retry-policy';
import { generateSecret } from '#shared/signing';
import type { Denial, Exchange, SlotRelease, SubscriptionLimit } from '#shared/delivery/limits';
import type { Lease } from '#shared/delivery/message-state';
import type { AttemptRecord } from './attempt-writer.ts';
import { Dispatcher, type DeliveryItem, type Limits } from './dispatcher.ts';
import type { RoutedSubscription } from '../fanout/routing-table.ts';

// The lanes on their own: a transport whose requests the test answers, limits kept in memory,
// and a writer that keeps what it is given.

const logger = pino({ level: 'silent' });
const SECRET = generateSecret();

function subscription(id: string, state: RoutedSubscription['state'] = 'active'): RoutedSubscription {
  return { id, partnerId: 'ptn_1', productId: 'prd_1', functionKey: 'estates.read', url: `http://receiver/${id}`, eventTypes: new Set(['x']), state, secrets: [SECRET], secretsChangeAt: null, rateLimitPerSecond: null, ordering: 'none' };
}

/** A transport that holds each request until the test answers it. */
function heldTransport() {
  const open: { url: string; answer: (r: PostResult) => void }[] = [];
  const transport: Transport = {
    post: (url) => new Promise<PostResult>((answer) => open.push({ url: String(url), answer })),
    close: async () => {},
  };
  const ok = (): PostResult => ({ kind: 'response', status: 200, statusText: 'OK', headers: {}, body: Buffer.from('ok'), bytesRead: 2, truncated: false, durationMs: 1 });
  return { transport, open, ok };
}

/** Limits in memory: a cap per subscription, and a verdict the test may force. */
function memoryLimits() {
  const held = new Map<string, number>();
  const state = { force: null as Denial | null, fail: 0, asked: 0, exchanges: 0, kept: 0, outcomes: [] as string[] };
  let tokens = 0;
  const limits: Limits = {
    slotLeaseMs: 60_000,
    exchange: async (limit: SubscriptionLimit, releases: SlotRelease[], want: number, kept: SlotRelease[] = []): Promise<Exchange> => {
      state.exchanges++;
      if (want > 0) state.asked++;
      if (state.fail > 0) {
        state.fail--;
        throw new Error('redis down');
      }
      for (const r of releases) {
        held.set(limit.id, (held.get(limit.id) ?? 1) - 1);
        state.outcomes.push(r.outcome);
      }
      for (const r of kept) state.outcomes.push(r.outcome);
      state.kept += kept.length;
      const closed = state.force === null || state.force.reason === 'cap' || state.force.reason === 'rate';
      if (want === 0) return { grant: { granted: false, reason: 'cap', retryAt: 0 }, change: 'unchanged', closed };
      if (state.force) return { grant: state.force, change: 'unchanged', closed };
      const n = held.get(limit.id) ?? 0;
      const room = Math.min(want, limit.maxInFlight - n);
      if (room <= 0) return { grant: { granted: false, reason: 'cap', retryAt: Date.now() + 10 }, change: 'unchanged', closed };
      held.set(limit.id, n + room);
      return { grant: { granted: true, tokens: Array.from({ length: room }, () => `${limit.id}.${++tokens}`), probe: false }, change: 'unchanged', closed };
    },
  };
  return { limits, state, held };
}

function setup(options: { leaseMs?: number; timeoutMs?: number; renew?: (l: Lease[]) => Promise<Set<string>>; transport?: Transport; spareHoldMs?: number; spillAfterMs?: number } = {}) {
  const records: AttemptRecord[] = [];
  const handedBack: (Lease & { attempts: number })[] = [];
  const renewals: Lease[][] = [];
  const { transport, open, ok } = heldTransport();
  const { limits, state, held } = memoryLimits();
  const leaseMs = options.leaseMs ?? 60_000;
  const dispatcher = new Dispatcher(
    options.transport ?? transport,
    { add: async (r: AttemptRecord) => void records.push(r), flush: async () => {} },
    createRetryPolicy({ scheduleMs: [1_000, 1_000], random: () => 0.5 }),
    limits,
    logger,
    {
      concurrency: 100,
      maxInFlightPerSubscription: 2,
      timeoutMs: options.timeoutMs ?? 1_000,
      leaseMs,
      checkUrl: () => null,
      handBack: async (m) => void handedBack.push(...m),
      renew: async (l) => {
        renewals.push(l);
        return options.renew ? options.renew(l) : new Set(l.map((x) => x.messageId));
      },
      pollMs: 5,
      random: () => 0,
      ...(options.spareHoldMs === undefined ? {} : { spareHoldMs: options.spareHoldMs }),
      ...(options.spillAfterMs === undefined ? {} : { spillAfterMs: options.spillAfterMs }),
    },
  );
  let n = 0;
  const item = (sub: RoutedSubscription, over: Partial<DeliveryItem> = {}): DeliveryItem => ({
    messageId: `msg_${++n}`,
    attemptsMade: 0,
    subscription: sub,
    body: '{}',
    lease: { owner: 'owner-1', until: Date.now() + leaseMs },
    ...over,
  });
  return { dispatcher, records, handedBack, renewals, open, ok, state, held, item };
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean, ms = 5_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met');
    await tick(5);
  }
}

describe('dispatcher lanes', () => {
  it('sends a backlog of 40,000 in one lane in arrival order', async () => {
    // Past some 16,000 entries an array's shift() copies the whole array (V8): the lane is a deque.
    const started: string[] = [];
    const instant: Transport = {
      post: async (_url, _body, headers) => {
        started.push(headers['webhook-id']!);
        return { kind: 'response', status: 200, statusText: 'OK', headers: {}, body: Buffer.from('ok'), bytesRead: 2, truncated: false, durationMs: 1 };
      },
      close: async () => {},
    };
    const { dispatcher, records, item } = setup({ transport: instant });
    const sub = subscription('sub_backlog');
    const items = Array.from({ length: 40_000 }, () => item(sub));
    await dispatcher.submit(items);
    expect(records).toHaveLength(items.length);
    expect(started).toEqual(items.map((i) => i.messageId));
    await dispatcher.stop();
  }, 60_000);

  it('counts what waits in each lane and in all, and admits a fan-out only once its messages fit under the limit', async () => {
    const t = setup({ leaseMs: 2_000, renew: async (l) => new Set(l.filter((x) => !x.messageId.startsWith('msg_lost')).map((x) => x.messageId)) });
    const a = subscription('sub_a');
    const b = subscription('sub_b');
    // First deliveries (not yet written): what admissions count.
    let n = 0;
    const fd = (sub: RoutedSubscription) => t.item(sub, { unwritten: { eventId: `evt_${++n}`, createdAt: new Date(), owner: 'owner-1' } });
    const all = t.dispatcher.submit([...Array.from({ length: 6 }, () => fd(a)), ...Array.from({ length: 3 }, (_, i) => t.item(b, { messageId: `msg_lost_${i}`, lease: { owner: 'o', until: Date.now() + 500 } }))]);
    // Two of a are in flight and four wait; b's leases were too short to start on, and the
    // renewal before their start finds them someone else's: they leave the lane unsent.
    await until(() => t.open.length === 2 && t.dispatcher.waitingFor('sub_b') === 0);
    expect(t.dispatcher.waitingFor('sub_a')).toBe(4);
    expect(t.dispatcher.depth().waiting).toBe(4);
    expect(t.dispatcher.waitingFor('sub_unknown')).toBe(0);
    // 4 wait: 2 more fit under 6, 3 do not.
    const fits = await t.dispatcher.admit(2, 6);
    const order: string[] = [];
    const three = t.dispatcher.admit(3, 6).then((adm) => (order.push('three'), adm));
    const one = t.dispatcher.admit(1, 6).then((adm) => (order.push('one'), adm));
    await tick(30);
    // The admitted two count as waiting until submitted; first come, first served.
    expect(order).toEqual([]);
    const submitted = fits.submit([fd(a), fd(a)]);
    expect(t.dispatcher.depth().waiting).toBe(6);
    await tick(30);
    expect(order).toEqual([]);
    // a drains as requests finish: once 3 wait or fewer, three go in, then one.
    while (order.length < 2) {
      for (const o of t.open.splice(0)) o.answer(t.ok());
      await tick(10);
    }
    expect(order).toEqual(['three', 'one']);
    // A fan-out that hands nothing over gives its room back.
    (await three).close();
    (await one).close();
    while (t.dispatcher.depth().inFlight > 0 || t.open.length > 0 || t.dispatcher.depth().waiting > 0) {
      for (const o of t.open.splice(0)) o.answer(t.ok());
      await tick(10);
    }
    await Promise.all([all, submitted]);
    expect(t.dispatcher.depth()).toEqual({ waiting: 0, inFlight: 0 });
    // With nothing waiting, one larger than the limit still goes, alone.
    const big = await t.dispatcher.admit(10, 6);
    let after = false;
    const next = t.dispatcher.admit(1, 6).then((adm) => ((after = true), adm));
    await tick(30);
    expect(after).toBe(false);
    big.close();
    (await next).close();
    // Stopping admits whoever still waits: a stopped dispatcher hands work back instead.
    const more = t.dispatcher.submit(Array.from({ length: 5 }, () => fd(a)));
    const waiter = t.dispatcher.admit(10, 5);
    await until(() => t.open.length === 2);
    const stopped = t.dispatcher.stop();
    const late = await waiter;
    await late.submit([fd(a)]);
    expect(t.handedBack.map((m) => m.messageId)).toHaveLength(4);
    for (const o of t.open.splice(0)) o.answer(t.ok());
    await stopped;
    await more;
    expect(t.dispatcher.depth().waiting).toBe(0);
  });

  it('writes back the messages of a delivery job that would wait long in a slow lane, and keeps the rest', async () => {
    // Cap 2, no answer yet (a lane's mean request time starts at the 1 s timeout): a message
    // joining behind 12 would wait 6 rounds, past the 5 s a job's message may expect.
    const { dispatcher, records, open, ok, item } = setup();
    const slow = subscription('sub_slow');
    const job = dispatcher.submitFromJob([...Array.from({ length: 20 }, () => item(slow)), item(subscription('sub_fast'))]);
    await until(() => records.length === 8);
    const now = Date.now();
    for (const r of records) {
      expect(r).toMatchObject({ subscriptionId: 'sub_slow', status: 'pending', attempt: null, error: null, reachedReceiver: false });
      // Due when the lane should have worked through its 12 (6 rounds and one more, less a fifth: random() is 0 here).
      expect(r.nextAttemptAt!.getTime() - now).toBeGreaterThan(5_000);
      expect(r.nextAttemptAt!.getTime() - now).toBeLessThanOrEqual(5_600);
    }
    expect(records.map((r) => r.messageId)).toEqual(Array.from({ length: 8 }, (_, i) => `msg_${13 + i}`));
    // The job completes once the 12 kept and the other lane's message are answered.
    for (let answered = 0; answered < 13; answered++) {
      await until(() => open.length > 0);
      open.shift()!.answer(ok());
    }
    await job;
    expect(records.filter((r) => r.status === 'succeeded')).toHaveLength(13);
    // Answers of 1 ms: the lane is quick now, and a job's 20 all wait in it.
    const again = dispatcher.submitFromJob(Array.from({ length: 20 }, () => item(slow)));
    await tick();
    expect(dispatcher.waitingFor('sub_slow')).toBe(18);
    for (let answered = 0; answered < 20; answered++) {
      await until(() => open.length > 0);
      open.shift()!.answer(ok());
    }
    await again;
    expect(records.filter((r) => r.status === 'succeeded')).toHaveLength(33);
    // A fan-out's or a hand-on's `submit` keeps every message, however deep the lane.
    const plain = setup();
    void plain.dispatcher.submit(Array.from({ length: 40 }, () => plain.item(slow)));
    await tick();
    expect(plain.dispatcher.waitingFor('sub_slow')).toBe(38);
    expect(plain.records).toEqual([]);
    const stopped = plain.dispatcher.stop();
    for (const request of plain.open) request.answer(plain.ok());
    await stopped;
  });

  it('writes back, on its lease renewals, the newest messages with a row of a lane that would keep them waiting too long', async () => {
    // Lease 1.2 s over a 1 s timeout: renewal ticks every 50 ms. No answer yet, so the lane's mean
    // request time is the timeout, and a message behind 12 (cap 2) would wait 6 s.
    const t = setup({ leaseMs: 1_200, timeoutMs: 1_000 });
    const lane = subscription('sub_slow');
    const first = (i: number) => t.item(lane, { messageId: `msg_first_${i}`, unwritten: { eventId: `evt_${i}`, createdAt: new Date(), owner: 'owner-1' } });
    // Rows (a hand-on's, or a job's taken in while the lane still looked quick), with two first deliveries among the newest.
    const all = t.dispatcher.submit([...Array.from({ length: 20 }, () => t.item(lane)), first(1), ...Array.from({ length: 5 }, () => t.item(lane)), first(2)]);
    await until(() => t.records.length === 11);
    expect(t.records.every((r) => r.status === 'pending' && r.attempt === null && !r.reachedReceiver && r.unwritten === undefined)).toBe(true);
    // 2 in flight; of the 25 waiting the 12 oldest stay, and the first deliveries; the 11 newest rows went.
    expect(t.records.map((r) => r.messageId).sort()).toEqual([...Array.from({ length: 6 }, (_, i) => `msg_${15 + i}`), ...Array.from({ length: 5 }, (_, i) => `msg_${22 + i}`)].sort());
    expect(t.dispatcher.waitingFor('sub_slow')).toBe(14);
    while (t.records.length < 27) {
      for (const o of t.open.splice(0)) o.answer(t.ok());
      await tick(10);
    }
    await all;
    expect(t.records.filter((r) => r.status === 'succeeded').map((r) => r.messageId)).toContain('msg_first_2');
    await t.dispatcher.stop();
  });

  it('makes room for a fan-out that waited by writing the newest first deliveries of the deepest lanes out as pending, untried', async () => {
    const t = setup({ spillAfterMs: 50 });
    const deep = subscription('sub_deep');
    const shallow = subscription('sub_shallow');
    const first = (sub: RoutedSubscription, i: number) => t.item(sub, { messageId: `msg_${sub.id}_${i}`, unwritten: { eventId: `evt_${i}`, createdAt: new Date(), owner: 'owner-1' } });
    // A retry (written already, by a delivery job) in the deep lane is not a first delivery: it stays.
    const retry = t.item(deep, { messageId: 'msg_retry', attemptsMade: 1 });
    const all = t.dispatcher.submit([...Array.from({ length: 20 }, (_, i) => first(deep, i)), retry, ...Array.from({ length: 5 }, (_, i) => first(shallow, i))]);
    // Two of each are in flight (the receivers hold them): 18 of deep's first deliveries wait, 3 of shallow's.
    await until(() => t.open.length === 4);
    expect(t.dispatcher.depth().waiting).toBe(22);
    // 21 first deliveries wait; 10 more fit under 25 once 6 are written out, all from the deep
    // lane's newest (the shallow lane, at 2 x its cap of 2 or fewer, keeps its own).
    const admission = await t.dispatcher.admit(10, 25);
    const spilled = t.records.filter((r) => r.status === 'pending' && r.attempt === null);
    expect(spilled.map((r) => r.messageId)).toEqual([19, 18, 17, 16, 15, 14].map((i) => `msg_sub_deep_${i}`));
    expect(spilled.every((r) => r.unwritten?.eventId && r.nextAttemptAt !== null && !r.reachedReceiver)).toBe(true);
    expect(t.dispatcher.waitingFor('sub_deep')).toBe(13);
    expect(t.dispatcher.waitingFor('sub_shallow')).toBe(3);
    admission.close();
    // The rest go in order, the retry after the deep lane's first deliveries kept.
    while (t.records.length < 26) {
      for (const o of t.open.splice(0)) o.answer(t.ok());
      await tick(10);
    }
    await all;
    const sent = t.records.filter((r) => r.status === 'succeeded' && r.subscriptionId === 'sub_deep').map((r) => r.messageId);
    expect(sent).toEqual([...Array.from({ length: 14 }, (_, i) => `msg_sub_deep_${i}`), 'msg_retry']);
    await t.dispatcher.stop();
  });

  it('keeps each lane within its cap and lets other lanes pass a full one', async () => {
    const t = setup();
    const slow = subscription('sub_slow');
    const fast = subscription('sub_fast');
    const all = t.dispatcher.submit([...Array.from({ length: 6 }, () => t.item(slow)), ...Array.from({ length: 3 }, () => t.item(fast))]);
    await until(() => t.open.length === 4);
    await tick(50);
    expect(t.open.filter((o) => o.url.endsWith('sub_slow'))).toHaveLength(2);
    expect(t.open.filter((o) => o.url.endsWith('sub_fast'))).toHaveLength(2);
    // Answer only the fast receiver: its third message goes while the slow lane stays at its cap.
    for (const o of t.open.filter((x) => x.url.endsWith('sub_fast'))) o.answer(t.ok());
    await until(() => t.open.filter((o) => o.url.endsWith('sub_fast')).length === 3);
    expect(t.open.filter((o) => o.url.endsWith('sub_slow'))).toHaveLength(2);
    // Then everything.
    while (t.records.length < 9) {
      for (const o of t.open.splice(0)) o.answer(t.ok());
      await tick(10);
    }
    await all;
    expect(t.records.map((r) => r.status)).toEqual(Array(9).fill('succeeded'));
    // The last successes' slots wait a moment for a next message (spare) before they go back with their outcomes.
    await until(() => t.state.outcomes.filter((o) => o === 'success').length === 9);
    expect(t.held.get('sub_slow')).toBe(0);
    expect(t.held.get('sub_fast')).toBe(0);
  });

  it('asks for several slots in one exchange and gives finished ones back with the next', async () => {
    const t = setup();
    const sub = subscription('sub_batch');
    const all = t.dispatcher.submit(Array.from({ length: 6 }, () => t.item(sub)));
    await until(() => t.open.length === 2);
    // Both slots of the cap came in one exchange.
    expect(t.state.exchanges).toBe(1);
    while (t.records.length < 6) {
      for (const o of t.open.splice(0)) o.answer(t.ok());
      await tick(10);
    }
    await all;
    await until(() => t.state.outcomes.length === 6);
    expect(t.state.outcomes).toEqual(Array(6).fill('success'));
    expect(t.held.get('sub_batch')).toBe(0);
    // After a success each slot passed to the lane's next message: never more than the cap
    // held, far fewer calls than two per request.
    expect(t.state.kept).toBe(4);
    expect(t.state.exchanges).toBeLessThanOrEqual(4);
  });

  it('keeps the slot of a success a moment for the lane\'s next message, so a steady trickle starts without a round trip', async () => {
    // A long hold first, so the test's own pace cannot outlast it.
    const t = setup({ spareHoldMs: 60_000 });
    const sub = subscription('sub_trickle');
    const done: Promise<void>[] = [];
    for (let i = 0; i < 5; i++) {
      done.push(t.dispatcher.submit([t.item(sub)]));
      await until(() => t.open.length === 1);
      t.open.shift()!.answer(t.ok());
      await until(() => t.records.length === i + 1);
      // The next message comes once this one's slot is spare.
      await until(() => t.dispatcher.depth().inFlight === 0);
    }
    await Promise.all(done);
    // One exchange, for the first slot; the other four started on it, one after the other, and
    // their outcomes wait for the lane's next exchange (not one exchange each, let alone two).
    expect(t.state.exchanges).toBe(1);
    expect(t.held.get('sub_trickle')).toBe(1);
    // A failure's slot is not kept: it goes back at once (long before the hold ends), through
    // the breaker's gate, with the successes held.
    const failed = t.dispatcher.submit([t.item(sub)]);
    await until(() => t.open.length === 1);
    t.open.shift()!.answer({ kind: 'response', status: 500, statusText: 'Oops', headers: {}, body: Buffer.from(''), bytesRead: 0, truncated: false, durationMs: 1 });
    await failed;
    await until(() => t.held.get('sub_trickle') === 0);
    expect([...t.state.outcomes].sort()).toEqual(['failure', ...Array(5).fill('success')]);
    // Stopping gives back a spare slot at once.
    const last = t.dispatcher.submit([t.item(sub)]);
    await until(() => t.open.length === 1);
    t.open.shift()!.answer(t.ok());
    await last;
    expect(t.held.get('sub_trickle')).toBe(1);
    await t.dispatcher.stop();
    expect(t.held.get('sub_trickle')).toBe(0);
    expect(t.state.outcomes.at(-1)).toBe('success');
  });

  it('gives a spare slot back once its lane stays idle for the hold, with the outcomes held', async () => {
    const t = setup({ spareHoldMs: 30 });
    const sub = subscription('sub_idle');
    const first = t.dispatcher.submit([t.item(sub)]);
    await until(() => t.open.length === 1);
    t.open.shift()!.answer(t.ok());
    await first;
    await until(() => t.held.get('sub_idle') === 0);
    expect(t.state.outcomes).toEqual(['success']);
    await t.dispatcher.stop();
  });

  it('passes no slot on after a failure, or with a rate limit: those starts go through the limits', async () => {
    const t = setup();
    const failing = subscription('sub_fails');
    const limited = { ...subscription('sub_limited'), rateLimitPerSecond: 100 };
    const all = t.dispatcher.submit([...Array.from({ length: 4 }, () => t.item(failing)), ...Array.from({ length: 4 }, () => t.item(limited))]);
    while (t.records.length < 8) {
      for (const o of t.open.splice(0)) o.answer(o.url.endsWith('sub_fails') ? { kind: 'response', status: 500, statusText: 'Oops', headers: {}, body: Buffer.from(''), bytesRead: 0, truncated: false, durationMs: 1 } : t.ok());
      await tick(10);
    }
    await all;
    expect(t.state.kept).toBe(0);
    expect(t.state.asked).toBeGreaterThanOrEqual(4);
  });

  it('defers every waiting message of an open circuit to its reopening, without an attempt', async () => {
    const t = setup();
    const sub = subscription('sub_open');
    const reopensAt = Date.now() + 30_000;
    t.state.force = { granted: false, reason: 'open', retryAt: reopensAt };
    await t.dispatcher.submit([t.item(sub, { attemptsMade: 2 }), t.item(sub, { attemptsMade: 0 })]);
    expect(t.open).toHaveLength(0);
    expect(t.records.map((r) => [r.attempt, r.attemptsMade, r.status, r.error, r.reachedReceiver])).toEqual([
      [null, 2, 'pending', 'circuit_open', false],
      [null, 0, 'pending', 'circuit_open', false],
    ]);
    for (const r of t.records) expect(r.nextAttemptAt!.getTime()).toBeGreaterThanOrEqual(reopensAt);
  });

  it('waits while the slots are taken elsewhere or Redis is away, and sends once one is free', async () => {
    const t = setup();
    const sub = subscription('sub_wait');
    t.state.force = { granted: false, reason: 'cap', retryAt: Date.now() + 10 };
    t.state.fail = 3;
    const done = t.dispatcher.submit([t.item(sub)]);
    await until(() => t.state.asked >= 6, 10_000);
    expect(t.open).toHaveLength(0);
    expect(t.records).toHaveLength(0);
    t.state.force = null;
    await until(() => t.open.length === 1);
    t.open[0]!.answer(t.ok());
    await done;
    expect(t.records.map((r) => [r.attempt, r.status])).toEqual([[1, 'succeeded']]);
  });

  it('extends a short lease before the request starts, and does not send a message whose lease is no longer its own', async () => {
    const t = setup({ leaseMs: 2_000, timeoutMs: 1_000, renew: async (l) => new Set(l.filter((x) => x.messageId !== 'msg_2').map((x) => x.messageId)) });
    const sub = subscription('sub_lease');
    const short = t.item(sub, { lease: { owner: 'o', until: Date.now() + 1_100 } });
    const lost = t.item(sub, { lease: { owner: 'o', until: Date.now() + 1_100 } });
    const done = t.dispatcher.submit([short, lost]);
    await until(() => t.open.length === 1);
    expect(t.renewals.flat().map((l) => l.messageId)).toContain(short.messageId);
    expect(short.lease.until).toBeGreaterThan(Date.now() + 1_500);
    t.open[0]!.answer(t.ok());
    await done;
    // The lost one was neither sent nor recorded: whoever holds its lease delivers it.
    expect(t.open).toHaveLength(1);
    expect(t.records.map((r) => r.messageId)).toEqual([short.messageId]);
    // Slots go back with the lane's next exchange, after the outcome is recorded.
    await until(() => t.state.outcomes.length === 2);
    expect(t.state.outcomes).toEqual(['none', 'success']);
  });

  it('renews the leases of messages waiting in a lane for longer than a lease', async () => {
    const t = setup({ leaseMs: 400, timeoutMs: 100 });
    const sub = subscription('sub_renew');
    const items = Array.from({ length: 3 }, () => t.item(sub));
    const done = t.dispatcher.submit(items);
    await until(() => t.open.length === 2);
    // The third waits for a slot for three lease lengths.
    await tick(1_200);
    expect(items[2]!.lease.until).toBeGreaterThan(Date.now() + 100);
    expect(t.renewals.filter((batch) => batch.some((l) => l.messageId === items[2]!.messageId)).length).toBeGreaterThanOrEqual(4);
    while (t.records.length < 3) {
      for (const o of t.open.splice(0)) o.answer(t.ok());
      await tick(10);
    }
    await done;
  });

  it('renews a message waiting far back in its lane about once per lease, not once per tick', async () => {
    vi.useFakeTimers();
    try {
      // Lease 2 s, timeout 1 s: the ticker runs every 125 ms; a message that may start soon keeps
      // 1.25 s to start on (renewed every 0.5 s), one further back half its lease (every 1 s).
      const t = setup({ leaseMs: 2_000, timeoutMs: 1_000 });
      const sub = subscription('sub_backlog');
      const items = Array.from({ length: 12 }, () => t.item(sub));
      const done = t.dispatcher.submit(items);
      await vi.advanceTimersByTimeAsync(10);
      expect(t.open).toHaveLength(2);
      // The last waits for a minute behind two requests that do not answer.
      const waitMs = 60_000;
      await vi.advanceTimersByTimeAsync(waitMs);
      const renewalsOf = (id: string) => t.renewals.filter((batch) => batch.some((l) => l.messageId === id)).length;
      const last = items[11]!;
      expect(last.lease.until).toBeGreaterThan(Date.now());
      expect(renewalsOf(last.messageId)).toBeGreaterThan(0);
      expect(renewalsOf(last.messageId)).toBeLessThanOrEqual(Math.ceil(waitMs / 1_000) + 1);
      // The lane's next message keeps enough to start on at once.
      expect(items[2]!.lease.until - Date.now()).toBeGreaterThanOrEqual(1_250);
      // Each tick's renewals go in one statement.
      expect(t.renewals.length).toBeLessThanOrEqual(waitMs / 125 + 1);
      while (t.records.length < items.length) {
        for (const o of t.open.splice(0)) o.answer(t.ok());
        await vi.advanceTimersByTimeAsync(10);
      }
      await done;
      expect(t.records.every((r) => r.status === 'succeeded')).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('holds messages of a paused subscription untried', async () => {
    const t = setup();
    await t.dispatcher.submit([t.item(subscription('sub_paused', 'paused'))]);
    expect(t.records.map((r) => [r.attempt, r.status])).toEqual([[null, 'held']]);
    expect(t.state.asked).toBe(0);
  });

  it('on stop hands back what has not started, with its lease, and finishes what is in flight', async () => {
    const t = setup();
    const sub = subscription('sub_stop');
    const items = Array.from({ length: 5 }, () => t.item(sub, { attemptsMade: 1 }));
    const done = t.dispatcher.submit(items);
    await until(() => t.open.length === 2);
    const stopping = t.dispatcher.stop();
    await tick(20);
    expect(t.handedBack.map((m) => [m.messageId, m.owner, m.attempts])).toEqual(items.slice(2).map((i) => [i.messageId, 'owner-1', 1]));
    for (const o of t.open.splice(0)) o.answer(t.ok());
    await stopping;
    await done;
    expect(t.records.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
  });
});

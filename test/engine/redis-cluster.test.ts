import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySlot } from '#shared/queues/key-slot';
import { Webhook } from 'standardwebhooks';
import { QUEUE_NAMES } from '#shared/queues/catalog';
import { requeueMessages } from '#shared/delivery/requeue';
import { startRedisCluster, type LocalRedisCluster } from '../../scripts/lib/redis-cluster.ts';
import { OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { clusterEnv, hasRedisServer, keysPerMaster } from '../support/redis-cluster.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription, publishEvents } from '../support/fixtures.ts';

// The delivery engine on a local Redis Cluster, 3 masters and 3 replicas, with the delivery work
// split into 3 shards: BullMQ, the retry schedule and the limits scripts on an ioredis Cluster.
const SHARDS = 3;
const CAP = 4;
const ENV = { RETRY_SCHEDULE: '500ms,500ms,500ms', DELIVERY_TIMEOUT_MS: '5000', MAX_IN_FLIGHT_PER_SUBSCRIPTION: String(CAP), RECONCILE_INTERVAL: '2s' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!hasRedisServer)('delivery on a Redis Cluster (3 masters, 3 replicas, 3 delivery shards)', () => {
  let cluster: LocalRedisCluster;
  let ctx: TestContext;
  const receivers: TestReceiver[] = [];
  let partnerId: string;
  let installation = 0;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    ctx = await startTestContext({ workers: true, env: { ...ENV, ...clusterEnv(cluster, SHARDS) } });
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated'] });
    const partner = await insertPartner(ctx.db);
    partnerId = partner.partnerId;
  }, 120_000);
  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.close()));
    await ctx?.stop();
    await cluster?.stop();
  });

  /** Subscriptions of a new product in a new installation, at least `perShard` in every shard, each at `url?s=<i>`. */
  async function subscribe(url: string, perShard: number) {
    const inst = `CLU${++installation}`;
    const productId = await insertProduct(ctx.db, { partnerId: partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, inst, productId);
    const subs: { id: string; secret: string; shard: number }[] = [];
    const inShard = () => Array.from({ length: SHARDS }, (_, s) => subs.filter((x) => x.shard === s).length);
    while (inShard().some((n) => n < perShard)) {
      const sub = await insertSubscription(ctx.db, { partnerId, productId, functionKey: 'estates.read', url: `${url}?s=${subs.length}`, eventTypes: ['estate.updated'] });
      subs.push({ ...sub, shard: ctx.queues.shards.of(sub.id) });
    }
    return { inst, subs };
  }

  async function publish(inst: string, count: number) {
    const events = Array.from({ length: count }, (_, i) => hubEvent(inst, 'estate.updated', { i }));
    await publishEvents(ctx, events);
    return events;
  }

  const count = async (where: Record<string, string>, ids?: string[]) => {
    const q = ctx.db('messages').where(where);
    if (ids) q.whereIn('subscription_id', ids);
    return Number((await q.count({ n: '*' }).first())?.n);
  };

  it('delivers every message, signed, with retries through each shard\'s retry schedule; keys on every master', async () => {
    expect(ctx.redis.isCluster).toBe(true);
    expect(cluster.masters()).toHaveLength(3);
    const receiver = await startReceiver();
    receivers.push(receiver);
    // One message in five fails its first try (too few to open a circuit): its retry goes
    // through its shard's retry schedule and deliver queue.
    const tries = new Map<string, number>();
    receiver.behave((req) => {
      const id = String(req.headers['webhook-id']);
      const n = (tries.get(id) ?? 0) + 1;
      tries.set(id, n);
      return { status: n === 1 && tries.size % 5 === 0 ? 503 : 200 };
    });
    const { inst, subs } = await subscribe(receiver.url, 2);
    const events = await publish(inst, 200);
    const expected = events.length * subs.length;
    const ids = subs.map((s) => s.id);

    await eventually(async () => (await count({ status: 'succeeded' }, ids)) === expected, { what: `${expected} messages succeeded`, timeoutMs: 120_000, everyMs: 250 });
    const perMaster = await keysPerMaster(cluster, `${ctx.queuePrefix.slice(0, -1)}*`);

    // Every (event, subscription) arrived, signed with its subscription's secret.
    const seen = new Set<string>();
    for (const req of receiver.requests.filter((r) => tries.get(String(r.headers['webhook-id'])) !== undefined)) {
      const sub = subs[Number(new URL(req.path, 'http://x').searchParams.get('s'))]!;
      const payload = new Webhook(sub.secret).verify(req.body, req.headers as Record<string, string>) as { eventId: string };
      seen.add(`${sub.id}|${payload.eventId}`);
    }
    expect(seen.size).toBe(expected);
    const retried = Number((await ctx.db('messages').whereIn('subscription_id', ids).where('attempts', '>=', 2).count({ n: '*' }).first())?.n);
    expect(retried).toBeGreaterThan(expected / 10);
    await eventually(async () => (await ctx.workers!.engine.retries.size()) === 0, 'the retry schedules emptied');

    const shardSizes = Array.from({ length: SHARDS }, (_, s) => subs.filter((x) => x.shard === s).length);
    console.warn(
      `cluster: ${expected} messages to ${subs.length} subscriptions (per shard ${shardSizes.join('/')}), ${retried} retried, ${receiver.requests.length} requests; ` +
        `hubhook keys per master: ${[...perMaster].map(([m, n]) => `${m}=${n}`).join(', ')}; shard prefixes ${ctx.queues.shards.prefixes.join(' ')}`,
    );
    // The shards' hash tags put the work on every master.
    expect(perMaster.size).toBe(3);
    for (const [master, n] of perMaster) expect(n, master).toBeGreaterThan(0);
  }, 180_000);

  it('runs the limits and breaker scripts on the cluster: the cap holds, a failing receiver\'s circuit opens', async () => {
    const slow = await startReceiver();
    receivers.push(slow);
    // In flight now and at most, per subscription (`?s=`) and in all.
    const current = new Map<string, number>();
    const peaks = new Map<string, number>();
    let all = 0;
    let peak = 0;
    slow.behave(async (req) => {
      const s = String(new URL(req.path, 'http://x').searchParams.get('s'));
      current.set(s, (current.get(s) ?? 0) + 1);
      peaks.set(s, Math.max(peaks.get(s) ?? 0, current.get(s)!));
      peak = Math.max(peak, ++all);
      await sleep(50);
      current.set(s, current.get(s)! - 1);
      all--;
      return { status: 200 };
    });
    const capped = await subscribe(slow.url, 1);
    const failing = await startReceiver();
    receivers.push(failing);
    failing.behave(() => ({ status: 500 }));
    const broken = await subscribe(failing.url, 1);

    await publish(capped.inst, 40);
    await publish(broken.inst, 40);
    const cappedIds = capped.subs.map((s) => s.id);
    await eventually(async () => (await count({ status: 'succeeded' }, cappedIds)) === 40 * cappedIds.length, { timeoutMs: 90_000, everyMs: 250 });
    // The cap holds per subscription (each one's script in its shard's slot), and was reached.
    expect(Math.max(...peaks.values())).toBe(CAP);
    expect(peak).toBeGreaterThan(CAP);
    const limits = ctx.workers!.engine.limits;
    for (const sub of broken.subs) await eventually(async () => (await limits.circuit(sub.id)) === 'open', { what: `circuit of ${sub.id} open`, timeoutMs: 60_000, everyMs: 100 });
    // The ops view reads the circuits shard by shard (a pipeline per shard): every broken one open, the others closed.
    const list = await ctx.request('GET', '/v1/ops/subscriptions?limit=100', { token: OPERATOR_TOKEN });
    expect(list.status).toBe(200);
    const circuits = new Map((list.body.data as { id: string; health: { circuit: string } }[]).map((s) => [s.id, s.health.circuit]));
    for (const sub of broken.subs) expect(circuits.get(sub.id), sub.id).toBe('open');
    for (const sub of capped.subs) expect(circuits.get(sub.id), sub.id).toBe('closed');
    console.warn(`cluster limits: peak ${peak} in flight over ${cappedIds.length} capped subscriptions, at most ${Math.max(...peaks.values())} per subscription (cap ${CAP}); ${broken.subs.length} circuits open`);
  }, 180_000);

  it('lists every queue and every shard; pause and resume act on all shards; a requeue goes to its subscription\'s shard', async () => {
    const queues = await ctx.request('GET', '/v1/ops/queues', { token: OPERATOR_TOKEN });
    expect(queues.body.data.map((q: { name: string }) => q.name)).toEqual(QUEUE_NAMES);
    expect(ctx.queues.deliver).toHaveLength(SHARDS);
    expect(new Set(ctx.queues.deliver.map((q) => q.opts.prefix)).size).toBe(SHARDS);
    // Our slot arithmetic agrees with the cluster's (the shard tags are chosen by it).
    for (const prefix of [ctx.queuePrefix, ...ctx.queues.shards.prefixes]) {
      const key = `${prefix}:deliver:wait`;
      expect(await (ctx.redis as Cluster).cluster('KEYSLOT', key), key).toBe(keySlot(key));
    }
    // The queue board lists every BullMQ queue: each shard's deliver queue beside the others.
    const signIn = await fetch(`${ctx.url}/ops/board/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${OPERATOR_TOKEN}` });
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
    const board = (await (await fetch(`${ctx.url}/ops/board/api/queues`, { headers: { cookie } })).json()) as { queues: { name: string }[] };
    expect(board.queues.map((q) => q.name).sort()).toEqual([...QUEUE_NAMES.filter((n) => n !== 'deliver'), ...Array.from({ length: SHARDS }, (_, i) => `shard-${i}/deliver`)].sort());

    expect((await ctx.request('POST', '/v1/ops/queues/deliver/pause', { token: OPERATOR_TOKEN })).body.paused).toBe(true);
    for (const q of ctx.queues.deliver) expect(await q.isPaused()).toBe(true);
    // While paused, a resend's job waits in the shard of the message's subscription, and only there.
    const message = await ctx.db('messages').where('status', 'succeeded').first();
    const [requeued] = await requeueMessages(ctx.db, ctx.queues, (q) => q.where('id', message.id), '.cluster-test');
    expect(requeued).toBe(message.id);
    const shard = ctx.queues.shards.of(message.subscription_id);
    const jobId = `${message.id}.${message.attempts}.cluster-test`;
    for (const [i, q] of ctx.queues.deliver.entries()) expect(Boolean(await q.getJob(jobId)), `shard ${i}`).toBe(i === shard);
    expect((await ctx.request('POST', '/v1/ops/queues/deliver/resume', { token: OPERATOR_TOKEN })).body.paused).toBe(false);
    await eventually(async () => (await ctx.db('messages').where('id', message.id).first()).status === 'succeeded' && (await ctx.db('messages').where('id', message.id).first()).attempts > message.attempts, { timeoutMs: 30_000 });
  }, 120_000);
});

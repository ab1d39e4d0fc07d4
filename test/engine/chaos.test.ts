import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createDb, type Knex } from '#shared/db/knex';
import { freePort } from '../../scripts/lib/local-services.ts';
import { HUB_TOKEN, OPERATOR_TOKEN, SECRETS_KEY } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { killOnExit } from '../support/children.ts';
import { startPrivatePostgres, startPrivateRedis, type PrivatePostgres, type PrivateRedis } from '../support/private-services.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription } from '../support/fixtures.ts';

// The production build under faults: one api and two workers from dist/, on a Postgres and a
// Redis of this test's own (it restarts the one and empties the other), a receiver failing 20 %
// and hanging on 3 %, while workers and the api are SIGKILLed and restarted.

const SUBSCRIPTIONS = 2;
// Sized for a shared machine: a few hundred events, published through the faults.
const MAX_EVENTS = 400;
const problems: string[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a built entry point and resolves once it logged `ready`. */
async function startBuilt(entry: string, env: Record<string, string>, ready: string): Promise<ChildProcess> {
  const child = killOnExit(spawn(process.execPath, ['--enable-source-maps', entry], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'inherit'] }));
  // Warnings and errors are kept, to say what went wrong if the test fails.
  child.stdout!.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (/"level":(40|50|60)/.test(line)) problems.push(`${entry.split('/')[1]}: ${line.slice(0, 400)}`);
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(ready)) {
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${entry} exited with ${code} before it was ready: ${out.slice(-2000)}`)));
  });
  child.stdout!.resume();
  return child;
}

/** `npm run build`, without blocking the test runner meanwhile. */
function npmRunBuild(): Promise<void> {
  return new Promise((resolve, reject) => {
    const build = spawn('npm', ['run', 'build'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    build.stdout.on('data', (c: Buffer) => (out += c.toString()));
    build.stderr.on('data', (c: Buffer) => (out += c.toString()));
    build.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`npm run build failed (${code}): ${out}`))));
  });
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('chaos: the production build against faults', () => {
  let pg: PrivatePostgres;
  let redis: PrivateRedis;
  let db: Knex;
  let receiver: TestReceiver;
  let env: Record<string, string>;
  let apiUrl: string;
  const processes = { api: null as ChildProcess | null, workers: [] as (ChildProcess | null)[] };

  beforeAll(async () => {
    await npmRunBuild();
    [pg, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
    const port = await freePort();
    apiUrl = `http://127.0.0.1:${port}`;
    env = {
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      PORT: String(port),
      OPERATOR_TOKEN,
      HUB_TOKEN,
      SECRETS_KEY,
      ALLOW_PRIVATE_RECEIVERS: '127.0.0.0/8',
      LOG_LEVEL: 'info',
      METRICS_PORT: '0',
      DELIVERY_TIMEOUT_MS: '1000',
      RECONCILE_INTERVAL: '1s',
      RETRY_SCHEDULE: '200ms,500ms,1s,1s,2s,2s,2s,2s,2s,2s',
      MAX_IN_FLIGHT_PER_SUBSCRIPTION: '8',
      SHUTDOWN_TIMEOUT_MS: '2000',
    };
    receiver = await startReceiver();
    // The build alone takes minutes when the whole suite shares two cores.
  }, 600_000);

  afterAll(async () => {
    await Promise.all([processes.api, ...processes.workers].filter((p): p is ChildProcess => p !== null).map(kill));
    await receiver?.close();
    await db?.destroy();
    await redis?.stop();
    await pg?.stop();
  });

  const startApi = async () => {
    processes.api = await startBuilt('dist/services/api/src/main.js', env, 'api listening');
  };
  const startWorker = async (i: number) => {
    processes.workers[i] = await startBuilt('dist/services/worker/src/main.js', env, 'worker started');
  };

  it('delivers every accepted event with a 2xx, none dead, across SIGKILLs, an emptied Redis and a Postgres restart', async () => {
    const delivered = new Set<string>();
    let failed = 0;
    let hung = 0;
    receiver.behave(async (req) => {
      const roll = Math.random();
      if (roll < 0.03) {
        hung++;
        await sleep(1_500);
        return { status: 200 };
      }
      if (roll < 0.23) {
        failed++;
        return { status: 500 };
      }
      delivered.add(String(req.headers['webhook-id']));
      return { status: 200 };
    });

    await startApi(); // it migrates the private database
    db = createDb({ url: pg.url });
    await insertFunction(db, { key: 'estates.read', eventTypes: ['estate.updated'] });
    const partner = await insertPartner(db);
    const product = await insertProduct(db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(db, 'CHAOS', product);
    for (let i = 0; i < SUBSCRIPTIONS; i++) {
      await insertSubscription(db, { partnerId: partner.partnerId, productId: product, functionKey: 'estates.read', url: `${receiver.url}?s=${i}`, eventTypes: ['estate.updated'] });
    }
    await Promise.all([startWorker(0), startWorker(1)]);

    // Publish steadily while the faults happen; only a 202 counts as accepted.
    const accepted: string[] = [];
    let refused = 0;
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        if (accepted.length >= MAX_EVENTS) {
          await sleep(200);
          continue;
        }
        const events = Array.from({ length: 5 }, (_, i) => hubEvent('CHAOS', 'estate.updated', { i }));
        try {
          const res = await fetch(`${apiUrl}/v1/hub/events`, {
            method: 'POST',
            headers: { authorization: `Bearer ${HUB_TOKEN}`, 'content-type': 'application/json' },
            body: JSON.stringify({ events }),
            signal: AbortSignal.timeout(5_000),
          });
          await res.text();
          if (res.status === 202) accepted.push(...events.map((e) => e.id));
          else refused++;
        } catch {
          refused++;
        }
        await sleep(300);
      }
    })();

    const faults: string[] = [];
    const faultTimes: number[] = [];
    const fault = async (name: string, action: () => Promise<void>) => {
      await sleep(2_500);
      const began = Date.now();
      await action();
      console.warn(`chaos: ${name} took ${Date.now() - began} ms; ${accepted.length} accepted so far`);
      faults.push(name);
      faultTimes.push(Date.now());
    };
    await fault('SIGKILL worker 0', () => kill(processes.workers[0]!));
    await fault('restart worker 0', () => startWorker(0));
    await fault('empty Redis', async () => {
      const client = new Redis(redis.url);
      await client.flushall();
      await client.quit();
    });
    await fault('restart Postgres', () => pg.restart());
    await fault('SIGKILL the api', () => kill(processes.api!));
    await fault('restart the api', startApi);
    await fault('SIGKILL worker 1', () => kill(processes.workers[1]!));
    await fault('restart worker 1', () => startWorker(1));
    await sleep(2_500);
    publishing = false;
    await publisher;

    expect(accepted.length).toBeGreaterThan(0);
    const expected = accepted.length * SUBSCRIPTIONS;
    const counts = async () => {
      const rows: { status: string; n: number }[] = await db('messages').whereIn('event_id', accepted).groupBy('status').select('status').count({ n: '*' });
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    };
    await eventually(async () => (await counts()).succeeded === expected, { timeoutMs: 180_000, everyMs: 500 }).catch(async (err: unknown) => {
      const stuck = await db('messages').whereIn('event_id', accepted).whereNot('status', 'succeeded').limit(5);
      const t0 = receiver.requests[0]?.receivedAt ?? 0;
      const perBucket = new Map<number, number>();
      for (const r of receiver.requests) perBucket.set(Math.floor((r.receivedAt - t0) / 5_000), (perBucket.get(Math.floor((r.receivedAt - t0) / 5_000)) ?? 0) + 1);
      console.warn(`not all delivered: ${JSON.stringify(await counts())} of ${expected}; faults at ${JSON.stringify(faultTimes.map((f) => f - t0))}; requests per 5 s: ${JSON.stringify([...perBucket])}; e.g. ${JSON.stringify(stuck)}\n${problems.filter((p) => !p.includes('Missing key')).slice(-30).join('\n')}`);
      throw err;
    });
    const final = await counts();
    const messages: { id: string }[] = await db('messages').whereIn('event_id', accepted).select('id');
    const missing = messages.filter((m) => !delivered.has(m.id));
    console.warn(
      `chaos: ${faults.join(', ')}; ${accepted.length} events accepted (${refused} batches refused while down), ${expected} messages: ` +
        `succeeded ${final.succeeded ?? 0}, dead ${final.dead ?? 0}; ${receiver.requests.length} requests (${failed} answered 500, ${hung} hung)`,
    );
    expect(final).toEqual({ succeeded: expected });
    expect(messages).toHaveLength(expected);
    // Each was answered 2xx by the receiver itself, in time.
    expect(missing).toEqual([]);
  }, 420_000);
});

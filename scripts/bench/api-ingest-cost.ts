/**
 * The api's own CPU per ingested event, without the rest of the system beside it: one api
 * process from source (as `npm run bench` runs it), no worker (the fan-out jobs wait in a queue
 * prefix of their own, removed after), and one publisher sending batches one after another.
 * CPU is read from /proc per thread (the main thread apart: what a request costs; the others
 * are V8's GC and compiler helpers). A batch of one event shows the fixed cost of a request.
 *
 *   node --conditions=source --import tsx scripts/bench/api-ingest-cost.ts [batches, default 1500] [events per batch, default 100] [publishers, default 1]
 *
 * With several publishers (each sending its share of the batches one after another) it also
 * prints the fan-out jobs made per 100 events: the batches committed in one turn of the event
 * loop share one job.
 *
 * BENCH_PROFILE=dir writes the api's CPU profile there; BENCH_SET="NAME=value,..." passes settings.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createDb } from '#shared/db/knex';
import { migrateLatest } from '#shared/db/migrate';
import { randomText } from '#shared/ids';
import { generateKey } from '#shared/secret-box';
import { createQueues, createRedis } from '#shared/queues/connection';
import { findRedis, findTestPostgres, freePort } from '../lib/local-services.ts';
import { BODY_1KIB } from './raw-post.ts';

const batches = Number(process.argv[2] ?? 1500);
const size = Number(process.argv[3] ?? 100);
const publishers = Number(process.argv[4] ?? 1);
const WARM_UP = 300;
const pg = await findTestPostgres(process.env, path.resolve('.data/bench-postgres'));
const redisService = await findRedis(process.env);
const schema = `api_cost_${randomText(6)}`;
const prefix = `{api_cost_${randomText(6)}}`;
const db = createDb({ url: pg.url, schema, poolMax: 2 });

/** CPU ticks (user, system) of each thread of `pid` so far. */
function threadTicks(pid: number): Map<string, [number, number]> {
  return new Map(
    readdirSync(`/proc/${pid}/task`).map((tid) => {
      const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
      return [tid, [Number(fields[11]), Number(fields[12])]];
    }),
  );
}

let counter = 0;
const body = () =>
  JSON.stringify({
    events: Array.from({ length: size }, () => ({
      id: `cost-${++counter}`,
      installationId: 'INGEST',
      type: 'bench.event',
      entityId: String(counter),
      occurredAt: new Date().toISOString(),
      data: { padding: BODY_1KIB.slice(0, 820) },
    })),
  });

try {
  await migrateLatest(db, schema);
  await db('functions').insert({ key: 'bench.read', name: 'Bench', event_types: ['bench.event'], filter_fields: [] });
  await db('installations').insert({ id: 'INGEST', name: 'INGEST' });
  const url = new URL(pg.url);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const port = await freePort();
  const hubToken = `hub-${randomText(24)}`;
  const env = {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: url.toString(),
    REDIS_URL: redisService.url,
    QUEUE_PREFIX: prefix,
    PORT: String(port),
    OPERATOR_TOKEN: `op-${randomText(24)}`,
    HUB_TOKEN: hubToken,
    SECRETS_KEY: generateKey(),
    LOG_LEVEL: 'warn',
    ...Object.fromEntries((process.env.BENCH_SET ?? '').split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
  };
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const api = spawn(process.execPath, [...profile, '--conditions=source', '--import', 'tsx', 'services/api/src/main.ts'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 300 && (await fetch(`${base}/readyz`).catch(() => null))?.ok !== true; i++) await new Promise((r) => setTimeout(r, 100));
    const publish = async () => {
      const res = await fetch(`${base}/v1/hub/events`, { method: 'POST', headers: { authorization: `Bearer ${hubToken}`, 'content-type': 'application/json' }, body: body() });
      if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
    };
    for (let i = 0; i < WARM_UP; i++) await publish();
    const jobCounter = createRedis(redisService.url);
    const counted = createQueues(jobCounter, prefix);
    const fanoutQueue = counted.of('fanout')[0]!;
    const jobsBefore = await fanoutQueue.count();
    const before = threadTicks(api.pid!);
    const started = Date.now();
    await Promise.all(
      Array.from({ length: publishers }, async (_, p) => {
        for (let i = p; i < batches; i += publishers) await publish();
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    // The last jobs are sent on the turn after the last answers.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const jobs = (await fanoutQueue.count()) - jobsBefore;
    await counted.close();
    await jobCounter.quit();
    const after = threadTicks(api.pid!);
    let all = 0;
    let system = 0;
    let main = 0;
    for (const [tid, [user, sys]] of after) {
      const [user0, sys0] = before.get(tid) ?? [0, 0];
      all += user - user0 + sys - sys0;
      system += sys - sys0;
      if (tid === String(api.pid)) main = user - user0 + sys - sys0;
    }
    const events = batches * size;
    // Clock ticks are 10 ms (USER_HZ 100).
    const micros = (ticks: number) => ((ticks * 10_000) / events).toFixed(1);
    console.log(
      `${Math.round(events / seconds)} events/s in batches of ${size}, ${publishers} publisher(s); api CPU µs per event: ${micros(all)} (system ${micros(system)}), main thread ${micros(main)}, other threads ${micros(all - main)}; fan-out jobs per 100 events ${((jobs * 100) / events).toFixed(1)}`,
    );
  } finally {
    api.kill('SIGTERM');
    await new Promise((resolve) => api.once('exit', resolve));
  }
} finally {
  const redis = createRedis(redisService.url);
  const keys = await redis.keys(`${prefix}:*`);
  for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
  await redis.quit();
  await db.raw('drop schema if exists ?? cascade', [schema]);
  await db.destroy();
  await pg.stop();
  await redisService.stop();
}

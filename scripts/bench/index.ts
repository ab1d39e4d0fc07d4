/**
 * `npm run bench`: the delivery engine measured end to end on this machine, with every part on
 * it (Postgres, Redis, the api and worker processes, the receiver and the load generator).
 *
 * Prints, in one run: the raw limits (BullMQ no-op jobs/s, keep-alive POST/s with node:http),
 * end-to-end signed and logged deliveries/s with 1 KiB payloads and their ratio to the raw POST
 * rate, ingest events/s in batches of 100, the time to deliver one event to 10,000
 * subscriptions, p50/p99 latency from ingest to the receiver at a steady 1,000 events/s, Redis
 * bytes per pending delivery, and worker RSS. Beside hubhook's delivery rate it measures the
 * plain design (scripts/bench/plain-peer.ts: a BullMQ job per message, got, a row per attempt)
 * with the same load against the same receiver. Results are also written to bench-results/.
 *
 * Options: --quick (smaller loads, for a smoke run), --keep (leave the schema for inspection),
 * --only raw,deliveries,peer,ingest,fanout,latency,redis,ordering (some phases; the table shows those;
 * `ordering`: deliveries/s and CPU per delivery of entity-ordered subscriptions beside unordered
 * ones under the same load of 1000 entities),
 * --workers 1,2,4 (the scaling phase: the production build with N worker processes for each N,
 * printing deliveries/s, scaling efficiency and CPU time per delivery of each process kind).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { createDb, type Knex } from '#shared/db/knex';
import { migrateLatest } from '#shared/db/migrate';
import { createRedis } from '#shared/queues/connection';
import { createSecretBox, generateKey } from '#shared/secret-box';
import { generateSecret } from '#shared/signing';
import { newId, randomText } from '#shared/ids';
import { createPartner } from '#api/partners/service';
import { findRedis, findTestPostgres, freePort, type LocalService } from '../lib/local-services.ts';
import { measureRawPost, BODY_1KIB } from './raw-post.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    only: { type: 'string' },
    workers: { type: 'string' },
  },
});
const PHASES = ['raw', 'deliveries', 'peer', 'ingest', 'fanout', 'latency', 'redis', 'ordering'] as const;
const workerCounts = args.workers ? args.workers.split(',').map(Number) : [];
if (workerCounts.some((n) => !Number.isInteger(n) || n < 1 || n > 32)) throw new Error('--workers takes worker counts such as 1,2,4');
// --workers alone runs only the scaling phase; with --only, the phases named as well.
const only = new Set(args.only ? args.only.split(',') : workerCounts.length > 0 ? [] : PHASES);
const runs = (phase: (typeof PHASES)[number]) => only.has(phase);
const QUICK = args.quick;

// ---------------------------------------------------------------------------------------------
// Small utilities.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let progressText = '';
let lastPrinted = 0;
/** One progress line, rewritten in place at a terminal; every 2 s otherwise. */
function progress(text: string): void {
  progressText = text;
  if (process.stdout.isTTY) process.stdout.write(`\r\x1b[2K${text}`);
  else if (Date.now() - lastPrinted > 2_000) {
    lastPrinted = Date.now();
    console.log(text);
  }
}
function doneProgress(): void {
  if (process.stdout.isTTY && progressText) process.stdout.write('\r\x1b[2K');
}

async function until(check: () => Promise<boolean>, timeoutMs: number, label: string, everyMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${label}`);
}

/** Spawns a child that prints one JSON line (`{"port":N}`, `{"ready":true}`) when it is ready; resolves to it. */
async function spawnReady<T>(args: string[], env?: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; ready: T }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['pipe', 'pipe', 'inherit'], env });
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<T>((resolve, reject) => {
    lines.once('line', (line) => resolve(JSON.parse(line) as T));
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
  return { child, ready };
}

/** Spawns a child that prints `{"port":N}` first; resolves to its port. */
async function spawnWithPort(script: string): Promise<{ child: ChildProcess; port: number }> {
  const { child, ready } = await spawnReady<{ port: number }>([script]);
  return { child, port: ready.port };
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

function rssOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: Math.round(kb('VmRSS') / 1024), peakMb: Math.round(kb('VmHWM') / 1024) };
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat; with `children`, also its reaped children's. */
function cpuSecondsOf(pid: number, children = false): number {
  try {
    // Fields after the command (which may hold spaces), counted from field 3 (state).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]) + (children ? Number(fields[13]) + Number(fields[14]) : 0);
    return ticks / CLOCK_TICKS;
  } catch {
    return 0; // gone meanwhile
  }
}
const CLOCK_TICKS = 100; // USER_HZ on Linux

/** The pids whose command name is `comm` (postgres backends, redis-server). */
function pidsNamed(comm: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/comm`, 'utf8').trim() === comm;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** CPU seconds so far of each process kind of a running system: its api, its workers, every Postgres and Redis process. */
function cpuByKind(system: System): Record<'worker' | 'api' | 'postgres' | 'redis', number> {
  const sum = (pids: number[], children = false) => pids.reduce((total, pid) => total + cpuSecondsOf(pid, children), 0);
  return {
    worker: sum(system.workers.map((w) => w.pid!)),
    api: sum([system.api.pid!]),
    // The postmaster's reaped children count too: backends come and go with the pools.
    postgres: sum(pidsNamed('postgres'), true),
    redis: sum(pidsNamed('redis-server')),
  };
}

// ---------------------------------------------------------------------------------------------
// The system under test.

interface System {
  db: Knex;
  schema: string;
  prefix: string;
  apiUrl: string;
  receiverUrl: string;
  hubToken: string;
  api: ChildProcess;
  /** The first worker process; `workers` holds them all. */
  worker: ChildProcess;
  workers: ChildProcess[];
  env: Record<string, string>;
}

/** How startSystem runs the processes: from source with tsx (the default) or the production build. */
interface SystemOptions {
  workers?: number;
  production?: boolean;
}

async function startSystem(
  pg: LocalService,
  redis: LocalService,
  receiverPort: number,
  overrides: Record<string, string> = {},
  options: SystemOptions = {},
): Promise<System> {
  const schema = `bench_${randomText(8)}`;
  const prefix = `{bench_${randomText(8)}}`;
  const db = createDb({ url: pg.url, schema, poolMax: 20 });
  await migrateLatest(db, schema);
  const url = new URL(pg.url);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const port = await freePort();
  const hubToken = `hub-${randomText(24)}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: url.toString(),
    REDIS_URL: redis.url,
    QUEUE_PREFIX: prefix,
    PORT: String(port),
    OPERATOR_TOKEN: `op-${randomText(24)}`,
    HUB_TOKEN: hubToken,
    SECRETS_KEY: generateKey(),
    ALLOW_PRIVATE_RECEIVERS: '127.0.0.0/8',
    ...overrides,
  };
  // BENCH_PROFILE=dir writes a CPU profile of each process there (open it in Chrome DevTools).
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const start = (name: 'api' | 'worker', level: string) =>
    spawn(
      process.execPath,
      options.production
        ? [...profile, '--enable-source-maps', `dist/services/${name}/src/main.js`]
        : [...profile, '--conditions=source', '--import', 'tsx', `services/${name}/src/main.ts`],
      { env: { ...env, LOG_LEVEL: level }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
  const api = start('api', 'warn');
  api.stdout!.resume();
  const workers = await Promise.all(
    Array.from({ length: options.workers ?? 1 }, async () => {
      const worker = start('worker', 'info');
      await new Promise<void>((resolve, reject) => {
        let out = '';
        const onData = (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('worker started')) {
            worker.stdout!.off('data', onData);
            resolve();
          }
        };
        worker.stdout!.on('data', onData);
        worker.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
      });
      worker.stdout!.resume();
      return worker;
    }),
  );
  const apiUrl = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${apiUrl}/readyz`).catch(() => null))?.ok === true, 30_000, 'the api');
  return { db, schema, prefix, apiUrl, receiverUrl: `http://127.0.0.1:${receiverPort}`, hubToken, api, worker: workers[0]!, workers, env };
}

async function stopSystem(system: System, redis: ReturnType<typeof createRedis>): Promise<void> {
  await Promise.all([stopChild(system.api), ...system.workers.map((w) => stopChild(w))]);
  const keys = await redis.keys(`${system.prefix}:*`);
  for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
  if (!args.keep) await system.db.raw('drop schema if exists ?? cascade', [system.schema]);
  await system.db.destroy();
}

/**
 * A partner with an active product granting `bench.read` (event `bench.event`), activated in
 * `installationId` only: each phase publishes to its own installation, so it reaches only its
 * own subscriptions.
 */
async function seedProduct(db: Knex, installationId: string): Promise<{ partnerId: string; productId: string }> {
  await db('functions').insert({ key: 'bench.read', name: 'Bench', event_types: ['bench.event'], filter_fields: [] }).onConflict('key').ignore();
  const { partner } = await db.transaction((trx) => createPartner(trx, { name: `Bench ${randomText(6)}`, contactEmail: `${randomText(10)}@bench.example` }));
  const productId = newId('product');
  await db('products').insert({ id: productId, partner_id: partner.id, name: `Bench ${productId}`, type: 'rights', status: 'active', active_version: 1 });
  await db('product_versions').insert({ product_id: productId, number: 1, status: 'active', activated_at: new Date() });
  await db('version_functions').insert({ product_id: productId, version: 1, function_key: 'bench.read' });
  await db('installations').insert({ id: installationId, name: installationId }).onConflict('id').ignore();
  await db('activations').insert({ installation_id: installationId, product_id: productId, version: 1 });
  return { partnerId: partner.id, productId };
}

/** `count` subscriptions to `url` (each its own lane: a distinct query string). */
async function seedSubscriptions(system: System, owner: { partnerId: string; productId: string }, count: number, url: string): Promise<void> {
  const sealed = createSecretBox(system.env.SECRETS_KEY!).seal(generateSecret());
  for (let i = 0; i < count; i += 1000) {
    const rows = Array.from({ length: Math.min(1000, count - i) }, (_, j) => ({
      id: newId('subscription'),
      partner_id: owner.partnerId,
      product_id: owner.productId,
      function_key: 'bench.read',
      url: `${url}?s=${i + j}`,
      event_types: ['bench.event'],
      secret_sealed: sealed,
    }));
    await system.db('subscriptions').insert(rows);
  }
}

let eventCounter = 0;
/** A batch of `n` events of about 1 KiB each, in one installation. */
function events(n: number, installationId: string, extra: Record<string, unknown> = {}) {
  return Array.from({ length: n }, () => ({
    id: `bench-${process.pid}-${++eventCounter}`,
    installationId,
    type: 'bench.event',
    entityId: String(eventCounter),
    occurredAt: new Date().toISOString(),
    data: { padding: BODY_1KIB.slice(0, 820), ...extra },
  }));
}

async function publish(system: System, batch: unknown[]): Promise<void> {
  const res = await fetch(`${system.apiUrl}/v1/hub/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${system.hubToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ events: batch }),
  });
  if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
}

async function succeeded(db: Knex): Promise<number> {
  const row = await db('messages').where('status', 'succeeded').count({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

async function receiverStats(system: System): Promise<{ count: number; p50: number | null; p99: number | null; samples: number }> {
  return (await (await fetch(`${system.receiverUrl}/_stats`)).json()) as { count: number; p50: number | null; p99: number | null; samples: number };
}

async function resetReceiver(system: System, latency = false): Promise<void> {
  await fetch(`${system.receiverUrl}/_reset${latency ? '?latency=1' : ''}`, { method: 'POST' });
}

// ---------------------------------------------------------------------------------------------
// The measurements.

async function measureBullmqNoop(redisUrl: string): Promise<number> {
  const connection = createRedis(redisUrl);
  const prefix = `{bench_q_${randomText(6)}}`;
  const queue = new Queue('noop', { connection, prefix });
  const total = QUICK ? 5_000 : 20_000;
  for (let i = 0; i < total; i += 1000) {
    await queue.addBulk(Array.from({ length: Math.min(1000, total - i) }, () => ({ name: 'noop', data: {}, opts: { removeOnComplete: true } })));
  }
  let done = 0;
  const started = Date.now();
  const workerConnection = createRedis(redisUrl);
  const worker = new Worker('noop', async () => {}, { connection: workerConnection, prefix, concurrency: 100 });
  worker.on('completed', () => void done++);
  await until(async () => done >= total, 120_000, 'no-op jobs', 20);
  const rate = total / ((Date.now() - started) / 1000);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  // A worker does not close a connection it was given.
  await workerConnection.quit();
  await connection.quit();
  return Math.round(rate);
}

async function measureDeliveries(system: System): Promise<{ perSecond: number; messages: number; seconds: number }> {
  const owner = await seedProduct(system.db, 'DELIVER');
  const subs = 50;
  await seedSubscriptions(system, owner, subs, `${system.receiverUrl}/deliver`);
  const eventCount = QUICK ? 200 : 1000;
  const expected = eventCount * subs;
  await sleep(500);
  const started = Date.now();
  for (let i = 0; i < eventCount; i += 100) await publish(system, events(100, 'DELIVER'));
  await until(
    async () => {
      const n = await succeeded(system.db);
      progress(`deliveries: ${n}/${expected} signed, sent and logged (${Math.round(n / ((Date.now() - started) / 1000))}/s)`);
      return n >= expected;
    },
    300_000,
    'deliveries',
    250,
  );
  const seconds = (Date.now() - started) / 1000;
  return { perSecond: Math.round(expected / seconds), messages: expected, seconds: Math.round(seconds * 10) / 10 };
}

/** One half of the ordering phase. */
interface OrderingRun {
  perSecond: number;
  messages: number;
  seconds: number;
  /** CPU µs per delivery of each process kind (postgres and redis: every such process on the machine). */
  cpuMicrosPerDelivery: Record<'worker' | 'api' | 'postgres' | 'redis', number>;
}

/**
 * Entity ordering beside none, in one run and one system: 10 subscriptions ordering `none`,
 * then 10 ordering `entity` (each set on an installation of its own), each fed the same load:
 * 1000 entities × 5 events of 1 KiB, interleaved (round k holds every entity's k-th event), in
 * batches of 100. An ordered entity's next message starts only after the one before it was
 * recorded, so 1000 entities × 10 subscriptions are 10,000 chains, each one request at a time.
 */
async function measureOrdering(system: System): Promise<{ unordered: OrderingRun; ordered: OrderingRun; ratio: number }> {
  const entities = 1000;
  const perEntity = QUICK ? 2 : 5;
  const subs = 10;
  const run = async (installationId: string, ordering: 'none' | 'entity'): Promise<OrderingRun> => {
    const owner = await seedProduct(system.db, installationId);
    await seedSubscriptions(system, owner, subs, `${system.receiverUrl}/ordering-${ordering}`);
    await system.db('subscriptions').where({ product_id: owner.productId }).update({ ordering });
    const expected = entities * perEntity * subs;
    const done = async () =>
      Number(
        (await system.db('messages as m').join('subscriptions as s', 's.id', 'm.subscription_id').where({ 's.product_id': owner.productId, 'm.status': 'succeeded' }).count({ n: '*' }).first())?.n ?? 0,
      );
    await sleep(1000); // the routing table reloads
    const cpuBefore = cpuByKind(system);
    const started = Date.now();
    let n = 0;
    for (let round = 0; round < perEntity; round++) {
      for (let e = 0; e < entities; e += 100) {
        await publish(system, events(100, installationId).map((event, j) => ({ ...event, entityId: `ent-${e + j}`, data: { ...event.data, round } })));
      }
    }
    await until(
      async () => {
        n = await done();
        progress(`ordering ${ordering}: ${n}/${expected} delivered (${Math.round(n / ((Date.now() - started) / 1000))}/s)`);
        return n >= expected;
      },
      600_000,
      `ordering ${ordering}`,
      250,
    );
    const seconds = (Date.now() - started) / 1000;
    const cpuAfter = cpuByKind(system);
    const micros = (kind: keyof typeof cpuAfter) => Math.round(((cpuAfter[kind] - cpuBefore[kind]) * 1e6) / expected);
    return {
      perSecond: Math.round(expected / seconds),
      messages: expected,
      seconds: Math.round(seconds * 10) / 10,
      cpuMicrosPerDelivery: { worker: micros('worker'), api: micros('api'), postgres: micros('postgres'), redis: micros('redis') },
    };
  };
  const unordered = await run('ORDNONE', 'none');
  const ordered = await run('ORDENTITY', 'entity');
  return { unordered, ordered, ratio: Math.round((ordered.perSecond / unordered.perSecond) * 100) / 100 };
}

/**
 * The plain design (plain-peer.ts) under the deliveries phase's load: 50 subscriptions, 1000
 * events of 1 KiB in batches of 100, the same receiver; its own schema and queue prefix.
 */
async function measurePlainPeer(pg: LocalService, redisUrl: string, receiverUrl: string): Promise<{ perSecond: number; messages: number; seconds: number }> {
  const schema = `bench_peer_${randomText(8)}`;
  const admin = createDb({ url: pg.url, schema, poolMax: 2 });
  await admin.raw('create schema if not exists ??', [schema]);
  const url = new URL(pg.url);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const port = await freePort();
  const env = { PATH: process.env.PATH ?? '', DATABASE_URL: url.toString(), REDIS_URL: redisUrl, QUEUE_PREFIX: `{bench_peer_${randomText(6)}}`, PORT: String(port) };
  const worker = await spawnReady(['scripts/bench/plain-peer.ts', 'worker'], env);
  const api = await spawnReady(['scripts/bench/plain-peer.ts', 'api'], env);
  try {
    const subs = 50;
    const secret = generateSecret();
    await admin('peer_subscriptions').insert(Array.from({ length: subs }, (_, i) => ({ id: `sub_${i}`, url: `${receiverUrl}/peer?s=${i}`, secret })));
    const eventCount = QUICK ? 200 : 1000;
    const expected = eventCount * subs;
    const started = Date.now();
    for (let i = 0; i < eventCount; i += 100) {
      const res = await fetch(`http://127.0.0.1:${port}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ events: events(100, 'PEER') }),
      });
      if (res.status !== 202) throw new Error(`plain peer ingest answered ${res.status}`);
    }
    await until(
      async () => {
        const row = await admin('peer_messages').where('status', 'succeeded').count({ n: '*' }).first();
        const n = Number(row?.n ?? 0);
        progress(`plain peer: ${n}/${expected} signed, sent and logged (${Math.round(n / ((Date.now() - started) / 1000))}/s)`);
        return n >= expected;
      },
      600_000,
      'the plain peer',
      250,
    );
    const seconds = (Date.now() - started) / 1000;
    return { perSecond: Math.round(expected / seconds), messages: expected, seconds: Math.round(seconds * 10) / 10 };
  } finally {
    await Promise.all([stopChild(api.child), stopChild(worker.child)]);
    const redis = createRedis(redisUrl);
    const keys = await redis.keys(`${env.QUEUE_PREFIX}:*`);
    for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
    await redis.quit();
    if (!args.keep) await admin.raw('drop schema if exists ?? cascade', [schema]);
    await admin.destroy();
  }
}

type ScalingRow = {
  workers: number;
  perSecond: number;
  efficiency: number;
  cpuMicrosPerDelivery: Record<'worker' | 'api' | 'postgres' | 'redis', number>;
};

/**
 * The scaling phase: for each N of --workers, the production build with one api and N worker
 * processes under the deliveries phase's load, with the CPU time each process kind spent per
 * delivery. Postgres and Redis are the machine's own, so their figures include whatever else
 * the machine runs meanwhile.
 */
async function measureScaling(pg: LocalService, redisService: LocalService, redis: ReturnType<typeof createRedis>, receiverPort: number): Promise<ScalingRow[]> {
  progress('scaling: npm run build ...');
  const build = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
  const rows: ScalingRow[] = [];
  for (const workers of workerCounts) {
    const system = await startSystem(pg, redisService, receiverPort, { RETRY_SCHEDULE: '1h,2h', DELIVERY_CONCURRENCY: '256' }, { workers, production: true });
    try {
      const before = cpuByKind(system);
      const deliveries = await measureDeliveries(system);
      const after = cpuByKind(system);
      const perDelivery = (kind: keyof typeof before) => Math.round(((after[kind] - before[kind]) * 1e6) / deliveries.messages);
      const base = rows[0] ? rows[0].perSecond / rows[0].workers : deliveries.perSecond / workers;
      rows.push({
        workers,
        perSecond: deliveries.perSecond,
        efficiency: Math.round((deliveries.perSecond / (base * workers)) * 100) / 100,
        cpuMicrosPerDelivery: { worker: perDelivery('worker'), api: perDelivery('api'), postgres: perDelivery('postgres'), redis: perDelivery('redis') },
      });
    } finally {
      await stopSystem(system, redis);
    }
  }
  return rows;
}

async function measureIngest(system: System): Promise<{ perSecond: number; events: number; fanoutDrainedAfterSeconds: number }> {
  const durationMs = QUICK ? 2_000 : 5_000;
  const inFlight = 8;
  // An installation nobody has activated: this measures taking events in, not delivering them.
  const batches = Array.from({ length: 50 }, () => events(100, 'NOBODY'));
  let sent = 0;
  const end = Date.now() + durationMs;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (Date.now() < end) {
        // Fresh ids each time: duplicates would be cheaper than real events.
        const batch = batches[sent % batches.length]!.map((e) => ({ ...e, id: `bench-${process.pid}-${++eventCounter}` }));
        await publish(system, batch);
        sent += batch.length;
        progress(`ingest: ${sent} events committed`);
      }
    }),
  );
  const perSecond = Math.round(sent / ((Date.now() - started) / 1000));
  // Not part of the ingest rate, but the next phases must start on an idle system.
  const draining = Date.now();
  await until(
    async () => {
      const row = await system.db('events').whereNull('fanout_at').count({ n: '*' }).first();
      progress(`ingest: ${row?.n} events still to fan out`);
      return Number(row?.n) === 0;
    },
    300_000,
    'the fan-out backlog',
    250,
  );
  return { perSecond, events: sent, fanoutDrainedAfterSeconds: Math.round((Date.now() - draining) / 100) / 10 };
}

async function measureWideFanout(system: System): Promise<{ subscriptions: number; seconds: number }> {
  const owner = await seedProduct(system.db, 'WIDE');
  const subs = QUICK ? 2_000 : 10_000;
  await seedSubscriptions(system, owner, subs, `${system.receiverUrl}/wide`);
  await resetReceiver(system);
  await sleep(1_000);
  const started = Date.now();
  await publish(system, events(1, 'WIDE'));
  await until(
    async () => {
      const { count } = await receiverStats(system);
      progress(`fan-out: ${count}/${subs} subscriptions reached`);
      return count >= subs;
    },
    120_000,
    'the wide fan-out',
    20,
  );
  return { subscriptions: subs, seconds: Math.round((Date.now() - started) / 10) / 100 };
}

async function measureLatency(system: System): Promise<{ rate: number; seconds: number; p50: number | null; p99: number | null; samples: number }> {
  const owner = await seedProduct(system.db, 'LATENCY');
  await seedSubscriptions(system, owner, 1, `${system.receiverUrl}/latency`);
  await sleep(1_000);
  // A steady rate: publish for a while uncounted (JIT, connection pools, routing table), then measure.
  const publishAt1000 = async (seconds: number, label: string) => {
    const perTick = 10;
    const tickMs = 10;
    const started = Date.now();
    let tick = 0;
    while (Date.now() - started < seconds * 1000) {
      const batch = events(perTick, 'LATENCY').map((e) => ({ ...e, data: { ...e.data, sentAt: Date.now() } }));
      void publish(system, batch);
      tick++;
      await sleep(Math.max(0, started + tick * tickMs - Date.now()));
      if (tick % 100 === 0) progress(`latency: ${label} ${tick * perTick} events at 1000/s`);
    }
    return tick * perTick;
  };
  // The first seconds after a start run behind (JIT, pools); measure only once caught up.
  await resetReceiver(system, true);
  const warmup = await publishAt1000(QUICK ? 2 : 5, 'warm-up,');
  await until(async () => (await receiverStats(system)).count >= warmup, 60_000, 'the warm-up to be delivered', 100);
  await resetReceiver(system, true);
  const seconds = QUICK ? 3 : 10;
  const expected = await publishAt1000(seconds, 'measured,');
  await until(async () => (await receiverStats(system)).samples >= expected, 60_000, 'latency samples', 100);
  const stats = await receiverStats(system);
  return { rate: Math.round(expected / seconds), seconds, p50: stats.p50, p99: stats.p99, samples: stats.samples };
}

async function measureRedisPerPending(system: System, redis: ReturnType<typeof createRedis>): Promise<{ bytes: number; pending: number }> {
  const owner = await seedProduct(system.db, 'FAILING');
  await seedSubscriptions(system, owner, 1, `${system.receiverUrl}/fail`);
  await sleep(1_000);
  const keysBytes = async () => {
    const keys = await redis.keys(`${system.prefix}:*`);
    let bytes = 0;
    for (let i = 0; i < keys.length; i += 500) {
      const pipeline = redis.pipeline();
      for (const key of keys.slice(i, i + 500)) pipeline.memory('USAGE', key);
      for (const [, value] of (await pipeline.exec()) ?? []) bytes += Number(value ?? 0);
    }
    return bytes;
  };
  const before = await keysBytes();
  const count = QUICK ? 1_000 : 5_000;
  for (let i = 0; i < count; i += 100) await publish(system, events(100, 'FAILING'));
  // Every message failed its first try, or was deferred untried once the receiver's circuit
  // opened: either way it waits on the retry schedule, held by no worker.
  await until(
    async () => {
      const pending = await system.db('messages').where('status', 'pending').whereNull('lease_owner').where('next_attempt_at', '>', system.db.fn.now()).count({ n: '*' }).first();
      progress(`redis: ${pending?.n}/${count} deliveries pending a retry`);
      return Number(pending?.n) >= count;
    },
    120_000,
    'pending retries',
    250,
  );
  await sleep(500);
  const after = await keysBytes();
  return { bytes: Math.round((after - before) / count), pending: count };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = new Date();
  const services: LocalService[] = [];
  const pg = await findTestPostgres(process.env, path.resolve('.data/bench-postgres'));
  services.push(pg);
  const redisService = await findRedis(process.env);
  services.push(redisService);
  const redis = createRedis(redisService.url);
  const receiver = await spawnWithPort('scripts/bench/counting-receiver.ts');
  const results: Record<string, unknown> = { startedAt: started.toISOString(), quick: QUICK, postgres: pg.source, redis: redisService.source };
  try {
    // The raw POST rate is the yardstick of the delivery rate, so the deliveries phase measures it too.
    let rawPost = 0;
    if (runs('raw') || runs('deliveries') || runs('peer')) {
      progress('raw: keep-alive POST/s with node:http ...');
      rawPost = Math.round(await measureRawPost({ url: `http://127.0.0.1:${receiver.port}/raw`, durationMs: QUICK ? 2_000 : 4_000 }));
      results.raw = { nodeHttpPostsPerSecond: rawPost };
    }
    if (runs('raw')) {
      progress('raw: BullMQ no-op jobs/s ...');
      results.raw = { bullmqNoopJobsPerSecond: await measureBullmqNoop(redisService.url), nodeHttpPostsPerSecond: rawPost };
    }

    // Retries far away, so the Redis measurement sees delayed jobs rather than attempts.
    if (PHASES.some((phase) => phase !== 'raw' && runs(phase))) {
      const system = await startSystem(pg, redisService, receiver.port, { RETRY_SCHEDULE: '1h,2h', DELIVERY_CONCURRENCY: '256' });
      try {
        if (runs('deliveries')) {
          const deliveries = await measureDeliveries(system);
          results.deliveries = { ...deliveries, ratioToRawPost: Math.round((deliveries.perSecond / rawPost) * 100) / 100 };
        }
        if (runs('peer')) {
          const peer = await measurePlainPeer(pg, redisService.url, system.receiverUrl);
          const hubhook = (results.deliveries as { perSecond: number } | undefined)?.perSecond;
          results.plainPeer = { ...peer, ratioToRawPost: rawPost ? Math.round((peer.perSecond / rawPost) * 100) / 100 : null, hubhookTimesPeer: hubhook ? Math.round((hubhook / peer.perSecond) * 100) / 100 : null };
        }
        if (runs('ingest')) results.ingest = await measureIngest(system);
        if (runs('fanout')) results.wideFanout = await measureWideFanout(system);
        if (runs('latency')) results.latency = await measureLatency(system);
        if (runs('redis')) results.redisPerPendingDelivery = await measureRedisPerPending(system, redis);
        if (runs('ordering')) results.ordering = await measureOrdering(system);
        results.worker = rssOf(system.worker.pid!);
      } finally {
        await stopSystem(system, redis);
      }
    }
    if (workerCounts.length > 0) results.scaling = await measureScaling(pg, redisService, redis, receiver.port);
  } finally {
    doneProgress();
    await stopChild(receiver.child);
    await redis.quit();
    for (const service of services.reverse()) await service.stop();
  }
  report(results);
}

function report(results: Record<string, unknown>): void {
  const r = results as Partial<{
    raw: { bullmqNoopJobsPerSecond?: number; nodeHttpPostsPerSecond: number };
    deliveries: { perSecond: number; messages: number; seconds: number; ratioToRawPost: number };
    plainPeer: { perSecond: number; messages: number; seconds: number; ratioToRawPost: number | null; hubhookTimesPeer: number | null };
    ingest: { perSecond: number; events: number };
    wideFanout: { subscriptions: number; seconds: number };
    latency: { rate: number; p50: number | null; p99: number | null; samples: number };
    redisPerPendingDelivery: { bytes: number; pending: number };
    worker: { rssMb: number; peakMb: number };
    scaling: ScalingRow[];
    ordering: { unordered: OrderingRun; ordered: OrderingRun; ratio: number };
  }>;
  const check = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const rows: [string, string, string, string][] = [];
  if (r.raw?.bullmqNoopJobsPerSecond !== undefined) rows.push(['BullMQ no-op jobs/s (raw limit)', String(r.raw.bullmqNoopJobsPerSecond), '', '']);
  if (r.raw) rows.push(['keep-alive POST/s, node:http (raw limit)', String(r.raw.nodeHttpPostsPerSecond), '', '']);
  if (r.deliveries) {
    rows.push([`deliveries/s, signed + logged, 1 KiB (${r.deliveries.messages} in ${r.deliveries.seconds} s)`, String(r.deliveries.perSecond), '', '']);
    rows.push(['  ratio to raw POST/s', r.deliveries.ratioToRawPost.toFixed(2), '>= 0.60', check(r.deliveries.ratioToRawPost >= 0.6)]);
  }
  if (r.plainPeer) {
    const p = r.plainPeer;
    rows.push([`plain BullMQ job/msg + got + row/attempt, deliveries/s (${p.messages} in ${p.seconds} s)`, String(p.perSecond), '', '']);
    if (p.ratioToRawPost !== null) rows.push(['  its ratio to raw POST/s', p.ratioToRawPost.toFixed(2), '', '']);
    if (p.hubhookTimesPeer !== null) rows.push(['  hubhook deliveries/s / plain', p.hubhookTimesPeer.toFixed(2), '>= 4', check(p.hubhookTimesPeer >= 4)]);
  }
  if (r.ingest) rows.push(['ingest events/s (batches of 100)', String(r.ingest.perSecond), '>= 20000', check(r.ingest.perSecond >= 20_000)]);
  if (r.wideFanout) {
    rows.push([`one event to ${r.wideFanout.subscriptions} subscriptions, s`, r.wideFanout.seconds.toFixed(2), '<= 3', check(r.wideFanout.seconds <= 3)]);
  }
  if (r.latency) {
    rows.push([`latency ingest->receiver at ${r.latency.rate}/s, p50 ms`, String(r.latency.p50), '', '']);
    rows.push(['  p99 ms', String(r.latency.p99), '<= 50', check((r.latency.p99 ?? Infinity) <= 50)]);
  }
  if (r.redisPerPendingDelivery) {
    const { bytes, pending } = r.redisPerPendingDelivery;
    rows.push([`Redis bytes per pending delivery (${pending} retries)`, String(bytes), '<= 600', check(bytes <= 600)]);
  }
  if (r.ordering) {
    const { unordered, ordered, ratio } = r.ordering;
    const cpu = (run: OrderingRun) => `worker ${run.cpuMicrosPerDelivery.worker} µs, postgres ${run.cpuMicrosPerDelivery.postgres} µs per delivery`;
    rows.push([`unordered deliveries/s, 1000 entities (${unordered.messages} in ${unordered.seconds} s; ${cpu(unordered)})`, String(unordered.perSecond), '', '']);
    rows.push([`entity-ordered deliveries/s, 1000 entities (${ordered.messages} in ${ordered.seconds} s; ${cpu(ordered)})`, String(ordered.perSecond), '', '']);
    rows.push(['  ordered / unordered', ratio.toFixed(2), '>= 0.50', check(ratio >= 0.5)]);
  }
  if (r.worker) rows.push(['worker RSS MB (peak)', `${r.worker.rssMb} (${r.worker.peakMb})`, '', '']);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length), ['measure', 'value', 'target', ''][i]!.length));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\nhubhook benchmark${QUICK ? ' (--quick)' : ''}, ${results.startedAt as string}`);
  if (rows.length > 0) {
    console.log(line(['measure', 'value', 'target', '']));
    console.log(line(widths.map((w) => '-'.repeat(w))));
    for (const row of rows) console.log(line(row));
  }
  if (r.scaling) {
    console.log('\nscaling: the production build, one api, N workers (CPU µs per delivery from /proc)');
    const head = ['workers', 'deliveries/s', 'efficiency', 'worker µs', 'api µs', 'postgres µs', 'redis µs'];
    const table = r.scaling.map((row) => [
      String(row.workers),
      String(row.perSecond),
      row.efficiency.toFixed(2),
      String(row.cpuMicrosPerDelivery.worker),
      String(row.cpuMicrosPerDelivery.api),
      String(row.cpuMicrosPerDelivery.postgres),
      String(row.cpuMicrosPerDelivery.redis),
    ]);
    const w = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
    console.log(head.map((h, i) => h.padStart(w[i]!)).join('  '));
    for (const row of table) console.log(row.map((c, i) => c.padStart(w[i]!)).join('  '));
  }
  mkdirSync('bench-results', { recursive: true });
  const file = path.join('bench-results', `bench-${(results.startedAt as string).replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nresults written to ${file}`);
}

main().catch((err: unknown) => {
  doneProgress();
  console.error(err);
  process.exit(1);
});

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
 * The api and worker run from the production build (dist/, compiled first with
 * `tsc -p tsconfig.build.json`), as the Dockerfile and docker-compose.yml run them; --source runs
 * them from source with tsx instead, as `npm start` does (its loader thread adds some 30 MB to
 * the worker's RSS). Either way the report also gives the idle RSS of a worker run the other way.
 *
 * Options: --quick (smaller loads, for a smoke run), --keep (leave the schema for inspection),
 * --only raw,deliveries,peer,ingest,fanout,latency,latency5k,redis,retention,ordering (some
 * phases; the table shows those; retention: dropping a day partition of attempts beside a DELETE
 * of its rows; ordering: deliveries/s and CPU per delivery of entity-ordered subscriptions beside
 * unordered ones under the same load of 1000 entities),
 * --workers 1,2,4 (the scaling phase: the production build with N worker processes for each N,
 * against a Postgres and a Redis of its own, printing deliveries/s, scaling efficiency, CPU
 * time per delivery of each process kind from /proc, and per delivery the rows written, WAL
 * bytes, commits and Redis commands, with the connections each kind held; docs/scaling.md).
 * BENCH_SET="NAME=value,..." passes settings to the api and worker; BENCH_PROFILE=dir writes
 * their CPU profiles there; BENCH_HEAPSNAPSHOT=dir writes heap snapshots of the worker there
 * after each phase and at the end (`<phase>-<pid>.heapsnapshot`; summarise one with
 * scripts/bench/heap-summary.ts). A snapshot stops the worker while it is written and leaves
 * its RSS higher: a run with snapshots is for the retainers, not for the RSS or rate figures.
 * BENCH_WORKER_NODE_FLAGS="--max-semi-space-size=8 ..." runs the worker with other node or V8
 * flags; BENCH_WORKER_LOG=file appends the worker's stdout there (its log, and --trace-gc's lines).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { createDb, type Knex } from '#shared/db/knex';
import { migrateLatest } from '#shared/db/migrate';
import { createRedis, deleteKeys, scanKeys } from '#shared/queues/connection';
import { createSecretBox, generateKey } from '#shared/secret-box';
import { generateSecret } from '#shared/signing';
import { newId, randomText } from '#shared/ids';
import { createPartner } from '#api/partners/service';
import { findRedis, findTestPostgres, freePort, type LocalService } from '../lib/local-services.ts';
import { measureRawPost, BODY_1KIB } from './raw-post.ts';
import { measureRetention, type RetentionResult } from './retention.ts';
import { CORES, backendCpuBetween, backendCpuSeconds, cpuSecondsOf, machineBusySeconds, postgresConnections, postgresCounters, redisCounters, startMeasuredServices, bytesPerRow, type MeasuredServices, type PostgresCounters } from './measured-services.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    source: { type: 'boolean', default: false },
    only: { type: 'string' },
    workers: { type: 'string' },
  },
});
const PHASES = ['raw', 'deliveries', 'peer', 'ingest', 'fanout', 'latency', 'latency5k', 'redis', 'retention', 'ordering'] as const;
const workerCounts = args.workers ? args.workers.split(',').map(Number) : [];
if (workerCounts.some((n) => !Number.isInteger(n) || n < 1 || n > 32)) throw new Error('--workers takes worker counts such as 1,2,4');
// --workers alone runs only the scaling phase; with --only, the phases named as well.
const only = new Set(args.only ? args.only.split(',') : workerCounts.length > 0 ? [] : PHASES);
const unknownPhase = [...only].find((phase) => !(PHASES as readonly string[]).includes(phase));
if (unknownPhase) throw new Error(`--only: no phase "${unknownPhase}"; phases are ${PHASES.join(', ')}`);
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

/**
 * What the worker's heap holds, from its Prometheus default metrics (MB): V8 heap used and
 * reserved, Buffers/external memory; and the seconds its main thread has paused for garbage
 * collection so far (minor: scavenges of the young generation; major: mark-compacts and their
 * incremental steps), the price of a smaller heap.
 */
async function heapOf(system: System): Promise<{ heapUsedMb: number; heapTotalMb: number; externalMb: number; gcSeconds: { minor: number; major: number } } | null> {
  const res = await fetch(system.metricsUrl, { headers: { authorization: `Bearer ${system.env.OPERATOR_TOKEN}` } }).catch(() => null);
  if (!res?.ok) return null;
  const text = await res.text();
  const value = (name: string) => Math.round(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 1024 / 1024);
  const gc = (kind: string) => Number(new RegExp(`^nodejs_gc_duration_seconds_sum\\{kind="${kind}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return {
    heapUsedMb: value('nodejs_heap_size_used_bytes'),
    heapTotalMb: value('nodejs_heap_size_total_bytes'),
    externalMb: value('nodejs_external_memory_bytes'),
    gcSeconds: { minor: Math.round(gc('minor') * 100) / 100, major: Math.round((gc('major') + gc('incremental')) * 100) / 100 },
  };
}

const HEAP_SNAPSHOT_DIR = process.env.BENCH_HEAPSNAPSHOT ? path.resolve(process.env.BENCH_HEAPSNAPSHOT) : null;
if (HEAP_SNAPSHOT_DIR) mkdirSync(HEAP_SNAPSHOT_DIR, { recursive: true });

/**
 * With BENCH_HEAPSNAPSHOT, has the first worker write a heap snapshot (it collects garbage
 * first, so the snapshot holds what is live) and names it after `label`; otherwise nothing.
 */
async function snapshotWorker(system: System, label: string): Promise<void> {
  if (!HEAP_SNAPSHOT_DIR) return;
  const pid = system.worker.pid!;
  const mine = () => readdirSync(HEAP_SNAPSHOT_DIR).filter((f) => f.startsWith('Heap.') && f.includes(`.${pid}.`) && f.endsWith('.heapsnapshot'));
  const before = new Set(mine());
  const rss = rssOf(pid);
  progress(`heap snapshot of the worker: ${label} (RSS ${rss.rssMb} MB) ...`);
  system.worker.kill('SIGUSR2');
  await until(async () => mine().some((f) => !before.has(f)), 60_000, 'the heap snapshot to start', 100);
  // The snapshot is written on the worker's main thread: once its metrics answer again, it is complete.
  await until(async () => (await heapOf(system)) !== null, 300_000, 'the heap snapshot to be written', 200);
  const file = mine().find((f) => !before.has(f))!;
  renameSync(path.join(HEAP_SNAPSHOT_DIR, file), path.join(HEAP_SNAPSHOT_DIR, `${label}-${pid}.heapsnapshot`));
  console.log(`\nheap snapshot ${label}: ${path.join(HEAP_SNAPSHOT_DIR, `${label}-${pid}.heapsnapshot`)} (worker RSS before it ${rss.rssMb} MB, peak ${rss.peakMb} MB)`);
}

function rssOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: Math.round(kb('VmRSS') / 1024), peakMb: Math.round(kb('VmHWM') / 1024) };
}

/** CPU seconds so far of a running system's api and workers (all worker processes together). */
function processCpu(system: System): { worker: number; api: number } {
  return { worker: system.workers.reduce((total, w) => total + cpuSecondsOf(w.pid!), 0), api: cpuSecondsOf(system.api.pid!) };
}

/** CPU seconds so far of each process kind of a running system: its api, its workers, the measured Postgres and Redis. */
function cpuByKind(system: System, services: MeasuredServices): Record<CpuKind, number> {
  return { ...processCpu(system), postgres: services.postgresCpuSeconds(), redis: services.redisCpuSeconds() };
}
type CpuKind = 'worker' | 'api' | 'postgres' | 'redis';

/**
 * CPU seconds so far of this system's own processes: its workers, its api, and the Postgres
 * backends its processes hold open (named by `application_name`), so a shared machine's other
 * work does not count. A backend that exits between two readings takes its time with it; the
 * pools keep theirs open during a phase.
 */
async function ownCpu(system: System): Promise<{ worker: number; api: number; backends: Map<number, number> }> {
  return { ...processCpu(system), backends: await backendCpuSeconds(system.db, [applicationName('api', system.schema), applicationName('worker', system.schema)]) };
}

/** CPU µs per unit of each of this system's process kinds between two `ownCpu` readings. */
function cpuMicrosPer(before: Awaited<ReturnType<typeof ownCpu>>, after: Awaited<ReturnType<typeof ownCpu>>, units: number): { worker: number; api: number; postgres: number } {
  const per = (seconds: number) => Math.round((seconds * 1e6) / units);
  return { worker: per(after.worker - before.worker), api: per(after.api - before.api), postgres: per(backendCpuBetween(before.backends, after.backends)) };
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
  /** The first worker's metrics endpoint. */
  metricsUrl: string;
  /** The processes run from the production build (dist/, as the Dockerfile and compose run them), not from source with tsx. */
  production: boolean;
  /** The first worker's RSS once started, before any load (code, loader, pools). */
  workerIdleRssMb: number;
  /** With `compareIdle`: the RSS of a worker run the other way (from source or from the build), idle. */
  otherIdle: { production: boolean; rssMb: number } | null;
  /** Queue prefixes whose keys stopSystem removes: the system's, and the idle worker's (its maintenance schedule). */
  prefixes: string[];
}

/** How startSystem runs the processes: from the production build (the default; --source: from source with tsx). */
interface SystemOptions {
  workers?: number;
  production?: boolean;
  /** Also start a worker the other way (source or build), idle, and read its RSS. */
  compareIdle?: boolean;
}

let built = false;
/** Compiles the api and worker into dist/ (the production build; the portal is not needed here), once per run. */
function buildOnce(): void {
  if (built) return;
  progress('npx tsc -p tsconfig.build.json (the production build) ...');
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npx tsc -p tsconfig.build.json failed');
  built = true;
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
  const metricsPort = await freePort();
  const hubToken = `hub-${randomText(24)}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: url.toString(),
    REDIS_URL: redis.url,
    QUEUE_PREFIX: prefix,
    PORT: String(port),
    // Its own metrics port (several benches may run on one machine); the heap figures come from there.
    METRICS_PORT: String(metricsPort),
    OPERATOR_TOKEN: `op-${randomText(24)}`,
    HUB_TOKEN: hubToken,
    SECRETS_KEY: generateKey(),
    ALLOW_PRIVATE_RECEIVERS: '127.0.0.0/8',
    ...overrides,
    // BENCH_SET="MAX_IN_FLIGHT_PER_SUBSCRIPTION=50,DELIVERY_CONCURRENCY=512" tries other settings.
    ...Object.fromEntries((process.env.BENCH_SET ?? '').split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
  };
  // BENCH_PROFILE=dir writes a CPU profile of each process there (open it in Chrome DevTools).
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  // BENCH_HEAPSNAPSHOT=dir: SIGUSR2 makes the worker write a heap snapshot there (snapshotWorker).
  const heapSnapshots = (name: 'api' | 'worker') =>
    HEAP_SNAPSHOT_DIR && name === 'worker' ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${HEAP_SNAPSHOT_DIR}`] : [];
  // BENCH_WORKER_NODE_FLAGS="--max-semi-space-size=8 ..." tries other V8 or node flags on the worker.
  const workerFlags = (name: 'api' | 'worker') => (name === 'worker' ? (process.env.BENCH_WORKER_NODE_FLAGS ?? '').split(' ').filter(Boolean) : []);
  const production = options.production ?? !args.source;
  if (production) buildOnce();
  const start = (name: 'api' | 'worker', level: string, fromBuild: boolean, extraEnv: Record<string, string> = {}) =>
    spawn(
      process.execPath,
      fromBuild
        ? [...profile, ...heapSnapshots(name), ...workerFlags(name), '--enable-source-maps', `dist/services/${name}/src/main.js`]
        : [...profile, ...heapSnapshots(name), ...workerFlags(name), '--conditions=source', '--import', 'tsx', `services/${name}/src/main.ts`],
      // Named connections: the scaling phase counts each kind's Postgres connections, and ownCpu
      // tells this system's backends apart from the rest of a shared Postgres by the schema.
      { env: { ...env, ...extraEnv, LOG_LEVEL: level, DATABASE_URL: withApplicationName(env.DATABASE_URL!, applicationName(name, schema)) }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
  /** A worker process, once it logged that it started. */
  const startWorker = async (fromBuild: boolean, extraEnv: Record<string, string> = {}) => {
    const worker = start('worker', 'info', fromBuild, extraEnv);
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
    if (process.env.BENCH_WORKER_LOG) worker.stdout!.pipe(createWriteStream(process.env.BENCH_WORKER_LOG, { flags: 'a' }));
    else worker.stdout!.resume();
    return worker;
  };
  const api = start('api', 'warn', production);
  api.stdout!.resume();
  const workers = await Promise.all(Array.from({ length: options.workers ?? 1 }, () => startWorker(production)));
  const apiUrl = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${apiUrl}/readyz`).catch(() => null))?.ok === true, 30_000, 'the api');
  const workerIdleRssMb = rssOf(workers[0]!.pid!).rssMb;
  // The other way to run the worker, idle, beside it: on a queue prefix of its own, so that it
  // takes none of the load, and stopped again before the load starts.
  let otherIdle: System['otherIdle'] = null;
  const prefixes = [prefix];
  if (options.compareIdle) {
    if (!production) buildOnce();
    const idlePrefix = `{bench_idle_${randomText(8)}}`;
    const other = await startWorker(!production, { QUEUE_PREFIX: idlePrefix, METRICS_PORT: String(await freePort()) });
    await sleep(1_000);
    otherIdle = { production: !production, rssMb: rssOf(other.pid!).rssMb };
    await stopChild(other);
    prefixes.push(idlePrefix);
  }
  return { db, schema, prefix, prefixes, apiUrl, receiverUrl: `http://127.0.0.1:${receiverPort}`, hubToken, api, worker: workers[0]!, workers, env, production, workerIdleRssMb, otherIdle, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` };
}

/** The `application_name` of one system's processes of a kind: `hubhook-worker/bench_x`. */
const applicationName = (kind: 'api' | 'worker', schema: string) => `hubhook-${kind}/${schema}`;
/** The process kind an `application_name` names (`hubhook-worker`), or the name itself if not the bench's. */
const kindOfApplication = (name: string) => name.split('/')[0]!;

/** `url` with `application_name` set, so pg_stat_activity tells the process kinds apart. */
function withApplicationName(url: string, name: string): string {
  const named = new URL(url);
  named.searchParams.set('application_name', name);
  return named.toString();
}

async function stopSystem(system: System, redis: ReturnType<typeof createRedis>): Promise<void> {
  await Promise.all([stopChild(system.api), ...system.workers.map((w) => stopChild(w))]);
  for (const prefix of system.prefixes) await deleteKeys(redis, await scanKeys(redis, `${prefix}:*`));
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

async function receiverStats(system: System): Promise<{ count: number; firstAt: number | null; p50: number | null; p99: number | null; samples: number }> {
  return (await (await fetch(`${system.receiverUrl}/_stats`)).json()) as { count: number; firstAt: number | null; p50: number | null; p99: number | null; samples: number };
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

type DeliveryRun = { perSecond: number; messages: number; seconds: number };
const DELIVERY_SUBSCRIPTIONS = 50;

/**
 * Seeds 50 subscriptions to the receiver (installation DELIVER) and returns a run: publish
 * `eventCount` events of 1 KiB, resolve once every message is logged as succeeded. At once in
 * batches of 100 (a burst: the rate is the system's most), or with `deliveriesPerSecond` one
 * event at a time at that pace, on the clock (a steady load, meant to be one the system keeps
 * up with; on a loaded machine it may not). Called more than
 * once, each run counts only its own deliveries.
 */
async function prepareDeliveries(system: System): Promise<(eventCount: number, deliveriesPerSecond?: number) => Promise<DeliveryRun>> {
  const owner = await seedProduct(system.db, 'DELIVER');
  await seedSubscriptions(system, owner, DELIVERY_SUBSCRIPTIONS, `${system.receiverUrl}/deliver`);
  await sleep(500);
  return async (eventCount, deliveriesPerSecond) => {
    const expected = eventCount * DELIVERY_SUBSCRIPTIONS;
    const before = await succeeded(system.db);
    await resetReceiver(system);
    const started = Date.now();
    if (deliveriesPerSecond === undefined) {
      for (let i = 0; i < eventCount; i += 100) await publish(system, events(Math.min(100, eventCount - i), 'DELIVER'));
    } else {
      // On the clock, not after each answer: a slow answer must not slow the load down.
      const everyMs = (1000 * DELIVERY_SUBSCRIPTIONS) / deliveriesPerSecond;
      const published: Promise<void>[] = [];
      for (let i = 0; i < eventCount; i++) {
        published.push(publish(system, events(1, 'DELIVER')));
        await sleep(Math.max(0, started + (i + 1) * everyMs - Date.now()));
      }
      await Promise.all(published);
    }
    // Progress from the receiver's count: counting messages in Postgres every 250 ms would add
    // the bench's own queries to Postgres's CPU per delivery. Postgres is asked once they arrived.
    await until(
      async () => {
        const { count } = await receiverStats(system);
        progress(`deliveries: ${count}/${expected} signed and sent (${Math.round(count / ((Date.now() - started) / 1000))}/s)`);
        return count >= expected;
      },
      300_000,
      'deliveries',
      250,
    );
    await until(async () => (await succeeded(system.db)) - before >= expected, 60_000, 'deliveries logged', 100);
    const seconds = (Date.now() - started) / 1000;
    return { perSecond: Math.round(expected / seconds), messages: expected, seconds: Math.round(seconds * 10) / 10 };
  };
}

/** The deliveries phase: one burst, with the CPU time this system's own processes spent per delivery. */
async function measureDeliveries(system: System): Promise<DeliveryRun & { cpuMicrosPerDelivery: { worker: number; api: number; postgres: number } }> {
  const deliver = await prepareDeliveries(system);
  const cpuBefore = await ownCpu(system);
  const run = await deliver(QUICK ? 200 : 1000);
  return { ...run, cpuMicrosPerDelivery: cpuMicrosPer(cpuBefore, await ownCpu(system), run.messages) };
}

/** One half of the ordering phase. */
interface OrderingRun {
  perSecond: number;
  messages: number;
  seconds: number;
  /** CPU µs per delivery of each process kind (Postgres and Redis: the phase's own servers). */
  cpuMicrosPerDelivery: Record<CpuKind, number>;
}

/**
 * Entity ordering beside none, in one run and one system (with a Postgres and a Redis of its
 * own, so their CPU per delivery is the phase's alone): 10 subscriptions ordering `none`, then 10
 * ordering `entity` (each set on an installation of its own), each fed the same load: 1000
 * entities × 5 events of 1 KiB, interleaved (round k holds every entity's k-th event), in
 * batches of 100. An ordered entity's next message starts only after the one before it was
 * recorded, so 1000 entities × 10 subscriptions are 10,000 chains, each one request at a time.
 */
async function measureOrdering(receiverPort: number): Promise<{ unordered: OrderingRun; ordered: OrderingRun; ratio: number; services: string }> {
  const entities = 1000;
  const perEntity = QUICK ? 2 : 5;
  const subs = 10;
  const services = await startMeasuredServices();
  const redis = createRedis(services.redis.url);
  try {
    const system = await startSystem(services.pg, services.redis, receiverPort, { RETRY_SCHEDULE: '1h,2h', DELIVERY_CONCURRENCY: '256' });
    try {
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
        const cpuBefore = cpuByKind(system, services);
        const started = Date.now();
        for (let round = 0; round < perEntity; round++) {
          for (let e = 0; e < entities; e += 100) {
            await publish(system, events(100, installationId).map((event, j) => ({ ...event, entityId: `ent-${e + j}`, data: { ...event.data, round } })));
          }
        }
        await until(
          async () => {
            const n = await done();
            progress(`ordering ${ordering}: ${n}/${expected} delivered (${Math.round(n / ((Date.now() - started) / 1000))}/s)`);
            return n >= expected;
          },
          600_000,
          `ordering ${ordering}`,
          250,
        );
        const seconds = (Date.now() - started) / 1000;
        const cpuAfter = cpuByKind(system, services);
        const micros = (kind: CpuKind) => Math.round(((cpuAfter[kind] - cpuBefore[kind]) * 1e6) / expected);
        return {
          perSecond: Math.round(expected / seconds),
          messages: expected,
          seconds: Math.round(seconds * 10) / 10,
          cpuMicrosPerDelivery: { worker: micros('worker'), api: micros('api'), postgres: micros('postgres'), redis: micros('redis') },
        };
      };
      const unordered = await run('ORDNONE', 'none');
      const ordered = await run('ORDENTITY', 'entity');
      await snapshotWorker(system, 'ordering');
      return { unordered, ordered, ratio: Math.round((ordered.perSecond / unordered.perSecond) * 100) / 100, services: services.description };
    } finally {
      await stopSystem(system, redis);
    }
  } finally {
    await redis.quit();
    await services.stop();
  }
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

/** What a run of deliveries cost, per delivery. */
type Costs = {
  deliveries: number;
  /** CPU µs per delivery of each process kind; `receiver` and `bench` are the load's side, `others` whatever else the machine ran. */
  cpuMicrosPerDelivery: Record<CpuKind | 'receiver' | 'bench' | 'others', number>;
  /** Cores busy on the whole machine during the run (of `CORES`). */
  machineBusyCores: number;
  perDelivery: { rowsInserted: number; rowsUpdated: number; rowsHotUpdated: number; rowsDeleted: number; walBytes: number; walRecords: number; walFpi: number; commits: number; redisCommands: number };
  rowsPerDeliveryByTable: Record<string, { ins: number; upd: number; del: number }>;
  /** Redis commands per delivery by command, the most frequent first (those called inside Lua scripts included). */
  redisCommandsPerDelivery: Record<string, number>;
};

type ScalingRow = {
  workers: number;
  /** The burst: the most this system delivered. */
  perSecond: number;
  messages: number;
  seconds: number;
  efficiency: number;
  burst: Costs;
  /** A steady load well below the burst rate: what a delivery costs when nothing waits. */
  steady: Costs & { perSecond: number };
  /** CPU ms per second of each process kind while idle (after the warm-up); `worker` is per worker process. */
  idleCpuMillisPerSecond: Record<CpuKind, number>;
  /** Peak connections during the burst: Postgres by process kind, Redis clients of the api and workers. */
  peakConnections: { postgres: Record<string, number>; redis: number };
  /** Bytes on disk per row (heap, indexes, TOAST) of the delivery tables after the runs. */
  storageBytesPerRow: Record<string, number>;
};

const round = (n: number, places = 0) => Math.round(n * 10 ** places) / 10 ** places;

/** CPU, WAL position and Redis counters at one moment of a scaling run. */
type Snapshot = {
  cpu: Record<CpuKind, number>;
  receiver: number;
  bench: NodeJS.CpuUsage;
  machine: number;
  at: number;
  walLsnBytes: bigint;
  redis: Awaited<ReturnType<typeof redisCounters>>;
};

/**
 * What one run cost per delivery, between two snapshots. Postgres's row, WAL-record and commit
 * counters come separately (`pgBefore`, `pgAfter`): backends report them late, so they are read
 * once the backends went idle long enough or exited.
 */
function costsBetween(before: Snapshot, after: Snapshot, pgBefore: PostgresCounters, pgAfter: PostgresCounters, deliveries: number): Costs {
  const per = (n: number, places = 0) => round(n / deliveries, places);
  const micros = (seconds: number) => per(seconds * 1e6);
  const kinds = Object.keys(before.cpu) as CpuKind[];
  const bench = (after.bench.user + after.bench.system - before.bench.user - before.bench.system) / 1e6;
  const receiver = after.receiver - before.receiver;
  const machine = after.machine - before.machine;
  const ours = kinds.reduce((total, kind) => total + after.cpu[kind] - before.cpu[kind], 0) + receiver + bench;
  const tables = Object.keys(pgAfter.rows);
  const delta = (table: string, field: 'ins' | 'upd' | 'hot' | 'del') => pgAfter.rows[table]![field] - (pgBefore.rows[table]?.[field] ?? 0);
  const sum = (field: 'ins' | 'upd' | 'hot' | 'del') => tables.reduce((total, table) => total + delta(table, field), 0);
  return {
    deliveries,
    cpuMicrosPerDelivery: {
      ...(Object.fromEntries(kinds.map((kind) => [kind, micros(after.cpu[kind] - before.cpu[kind])])) as Record<CpuKind, number>),
      receiver: micros(receiver),
      bench: micros(bench),
      others: micros(Math.max(0, machine - ours)),
    },
    machineBusyCores: round(machine / ((after.at - before.at) / 1000), 2),
    perDelivery: {
      rowsInserted: per(sum('ins'), 2),
      rowsUpdated: per(sum('upd'), 2),
      rowsHotUpdated: per(sum('hot'), 2),
      rowsDeleted: per(sum('del'), 2),
      walBytes: per(Number(after.walLsnBytes - before.walLsnBytes)),
      walRecords: per(pgAfter.walRecords - pgBefore.walRecords, 1),
      walFpi: per(pgAfter.walFpi - pgBefore.walFpi, 2),
      commits: per(pgAfter.commits - pgBefore.commits, 3),
      redisCommands: per(after.redis.commands - before.redis.commands, 1),
    },
    rowsPerDeliveryByTable: Object.fromEntries(
      tables
        .map((table) => [table, { ins: per(delta(table, 'ins'), 3), upd: per(delta(table, 'upd'), 3), del: per(delta(table, 'del'), 3) }] as const)
        .filter(([, r]) => r.ins + r.upd + r.del > 0),
    ),
    redisCommandsPerDelivery: Object.fromEntries(
      Object.entries(after.redis.byCommand)
        .map(([name, calls]) => [name, per(calls - (before.redis.byCommand[name] ?? 0), 2)] as const)
        .filter(([, n]) => n >= 0.01)
        .sort((a, b) => b[1] - a[1]),
    ),
  };
}

/** The steady load of the scaling phase: deliveries/s and seconds (one event of 50 deliveries at a time). */
const STEADY = QUICK ? { perSecond: 200, seconds: 5 } : { perSecond: 400, seconds: 20 };
/** How long backends may keep row statistics before reporting them when idle (PGSTAT_IDLE_INTERVAL is 10 s), and a margin. */
const PG_STATS_SETTLE_MS = 11_000;

/**
 * The scaling phase: for each N of --workers, the production build with one api and N worker
 * processes, against a Postgres and a Redis of the phase's own, so that their CPU time, WAL and
 * commands per delivery are the bench's alone even on a shared machine. After a warm-up that is
 * not counted, two runs: a steady load the system keeps up with (what a delivery costs when
 * nothing waits), then the deliveries phase's burst (the most it delivers; messages wait in
 * lanes meanwhile, and their leases are renewed). The receiver and the bench run on the same
 * machine and take their share of its cores: on a small machine the rate stops scaling early,
 * and the CPU time per delivery is the figure to extrapolate from.
 */
async function measureScaling(receiver: { child: ChildProcess; port: number }): Promise<{ rows: ScalingRow[]; services: string }> {
  progress('scaling: npm run build ...');
  const build = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
  const services = await startMeasuredServices();
  const redis = createRedis(services.redis.url);
  const rows: ScalingRow[] = [];
  try {
    for (const workers of workerCounts) {
      const system = await startSystem(services.pg, services.redis, receiver.port, { RETRY_SCHEDULE: '1h,2h', DELIVERY_CONCURRENCY: '256' }, { workers, production: true });
      const snapshot = async (): Promise<Snapshot> => ({
        cpu: cpuByKind(system, services),
        receiver: cpuSecondsOf(receiver.child.pid!),
        bench: process.cpuUsage(),
        machine: machineBusySeconds(),
        at: Date.now(),
        walLsnBytes: (await postgresCounters(system.db, system.schema)).walLsnBytes,
        redis: await redisCounters(redis),
      });
      try {
        const deliver = await prepareDeliveries(system);
        progress(`scaling: ${workers} worker(s), warm-up ...`);
        await deliver(QUICK ? 40 : 200);
        // Backends report their row counts within 10 s of going idle: let the warm-up's land
        // first, and meanwhile measure what the idle processes cost (timers, pumps, polling).
        const idle = await snapshot();
        await sleep(PG_STATS_SETTLE_MS);
        const idleEnd = await snapshot();
        const idleSeconds = (idleEnd.at - idle.at) / 1000;
        const idleCpuMillisPerSecond = Object.fromEntries(
          (Object.keys(idle.cpu) as CpuKind[]).map((kind) => [kind, round(((idleEnd.cpu[kind] - idle.cpu[kind]) * 1000) / idleSeconds / (kind === 'worker' ? workers : 1), 1)]),
        ) as Record<CpuKind, number>;

        progress(`scaling: ${workers} worker(s), steady ${STEADY.perSecond}/s ...`);
        const pgSteady = await postgresCounters(system.db, system.schema);
        const steadyStart = await snapshot();
        const steadyRun = await deliver((STEADY.perSecond * STEADY.seconds) / DELIVERY_SUBSCRIPTIONS, STEADY.perSecond);
        const steadyEnd = await snapshot();
        await sleep(PG_STATS_SETTLE_MS);
        const pgBurst = await postgresCounters(system.db, system.schema);
        const steady = { ...costsBetween(steadyStart, steadyEnd, pgSteady, pgBurst, steadyRun.messages), perSecond: steadyRun.perSecond };

        const peakPostgres: Record<string, number> = {};
        let peakRedis = 0;
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            const now: Record<string, number> = {};
            for (const [name, n] of Object.entries(await postgresConnections(system.db))) now[kindOfApplication(name)] = (now[kindOfApplication(name)] ?? 0) + n;
            for (const [kind, n] of Object.entries(now)) peakPostgres[kind] = Math.max(peakPostgres[kind] ?? 0, n);
            // Less the bench's own connection.
            peakRedis = Math.max(peakRedis, (await redisCounters(redis)).clients - 1);
            await sleep(1_000);
          }
        })();
        const burstStart = await snapshot();
        const run = await deliver(QUICK ? 200 : 1000);
        const burstEnd = await snapshot();
        sampling = false;
        await sampler;
        // Row and WAL statistics are complete once the backends exited.
        await Promise.all([stopChild(system.api), ...system.workers.map((w) => stopChild(w))]);
        const pgEnd = await postgresCounters(system.db, system.schema);
        const storageBytesPerRow = await bytesPerRow(system.db, system.schema, ['events', 'messages', 'attempts']);
        const base = rows[0] ? rows[0].perSecond / rows[0].workers : run.perSecond / workers;
        rows.push({
          workers,
          ...run,
          efficiency: round(run.perSecond / (base * workers), 2),
          burst: costsBetween(burstStart, burstEnd, pgBurst, pgEnd, run.messages),
          steady,
          idleCpuMillisPerSecond,
          peakConnections: { postgres: peakPostgres, redis: peakRedis },
          storageBytesPerRow,
        });
      } finally {
        await stopSystem(system, redis);
      }
    }
  } finally {
    await redis.quit();
    await services.stop();
  }
  return { rows, services: services.description };
}

/**
 * CPU µs per event of each process kind during an ingest run: the api, its and the worker's
 * Postgres backends (of them the api's: the insert), the worker (fanning out), and this bench
 * (building and sending the batches).
 */
type IngestCpu = { worker: number; api: number; postgres: number; postgresOfApi: number; bench: number };

/** Events/s committed by `publishers` publishers, each sending batches of 100 one after another. */
async function measureIngestRate(system: System, publishers: number): Promise<{ perSecond: number; events: number; cpuMicrosPerEvent: IngestCpu }> {
  const durationMs = QUICK ? 2_000 : 5_000;
  // A known installation with no subscriptions: this measures taking events in, not
  // delivering them (events for an unknown one would also be recorded as unroutable).
  const batches = Array.from({ length: 50 }, () => events(100, 'INGEST'));
  let sent = 0;
  const cpuBefore = await ownCpu(system);
  const apiBackendsBefore = await backendCpuSeconds(system.db, [applicationName('api', system.schema)]);
  const benchBefore = process.cpuUsage();
  const end = Date.now() + durationMs;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: publishers }, async () => {
      while (Date.now() < end) {
        // Fresh ids each time: duplicates would be cheaper than real events.
        const batch = batches[sent % batches.length]!.map((e) => ({ ...e, id: `bench-${process.pid}-${++eventCounter}` }));
        await publish(system, batch);
        sent += batch.length;
        progress(`ingest (${publishers} publisher${publishers > 1 ? 's' : ''}): ${sent} events committed`);
      }
    }),
  );
  const perSecond = Math.round(sent / ((Date.now() - started) / 1000));
  const bench = process.cpuUsage(benchBefore);
  const cpu = cpuMicrosPer(cpuBefore, await ownCpu(system), sent);
  const postgresOfApi = Math.round((backendCpuBetween(apiBackendsBefore, await backendCpuSeconds(system.db, [applicationName('api', system.schema)])) * 1e6) / sent);
  return { perSecond, events: sent, cpuMicrosPerEvent: { ...cpu, postgresOfApi, bench: Math.round((bench.user + bench.system) / sent) } };
}

/** Ingest by one sequential publisher, then by four at once; then waits for the fan-out to catch up. */
async function measureIngest(
  system: System,
): Promise<{ perSecond: number; events: number; cpuMicrosPerEvent: IngestCpu; fourPublishersPerSecond: number; fourPublishersCpuMicrosPerEvent: IngestCpu; fanoutDrainedAfterSeconds: number }> {
  await seedProduct(system.db, 'INGEST');
  const one = await measureIngestRate(system, 1);
  const four = await measureIngestRate(system, 4);
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
  return { ...one, fourPublishersPerSecond: four.perSecond, fourPublishersCpuMicrosPerEvent: four.cpuMicrosPerEvent, fanoutDrainedAfterSeconds: Math.round((Date.now() - draining) / 100) / 10 };
}

async function measureWideFanout(system: System): Promise<{ subscriptions: number; seconds: number; firstSeconds: number | null }> {
  const owner = await seedProduct(system.db, 'WIDE');
  const subs = QUICK ? 2_000 : 10_000;
  await seedSubscriptions(system, owner, subs, `${system.receiverUrl}/wide`);
  await resetReceiver(system);
  await sleep(1_000);
  const started = Date.now();
  await publish(system, events(1, 'WIDE'));
  let firstAt: number | null = null;
  await until(
    async () => {
      const stats = await receiverStats(system);
      firstAt = stats.firstAt;
      progress(`fan-out: ${stats.count}/${subs} subscriptions reached`);
      return stats.count >= subs;
    },
    120_000,
    'the wide fan-out',
    20,
  );
  const sinceStart = (at: number) => Math.round((at - started) / 10) / 100;
  return { subscriptions: subs, seconds: sinceStart(Date.now()), firstSeconds: firstAt === null ? null : sinceStart(firstAt) };
}

/** p50/p99 from ingest to the receiver at a steady `perSecond` events/s to one subscription. */
async function measureLatency(system: System, perSecond: number): Promise<{ rate: number; seconds: number; p50: number | null; p99: number | null; samples: number; slowest: LatencySplit | null }> {
  const installation = `LATENCY${perSecond}`;
  const owner = await seedProduct(system.db, installation);
  await seedSubscriptions(system, owner, 1, `${system.receiverUrl}/latency`);
  await sleep(1_000);
  // A steady rate: publish for a while uncounted (JIT, connection pools, routing table), then measure.
  const publishAt1000 = async (seconds: number, label: string) => {
    const perTick = perSecond / 100;
    const tickMs = 10;
    const started = Date.now();
    let tick = 0;
    // Not awaited (the clock sets the pace), but not left unhandled either: a failed publish
    // would end the bench at once, leaving its api and worker running with nobody to stop them.
    let failed: unknown = null;
    while (Date.now() - started < seconds * 1000) {
      if (failed) throw failed;
      const batch = events(perTick, installation).map((e) => ({ ...e, data: { ...e.data, sentAt: Date.now() } }));
      publish(system, batch).catch((err: unknown) => void (failed ??= err));
      tick++;
      await sleep(Math.max(0, started + tick * tickMs - Date.now()));
      if (tick % 100 === 0) progress(`latency: ${label} ${tick * perTick} events at ${perSecond}/s`);
    }
    return tick * perTick;
  };
  // The first seconds after a start run behind (JIT, pools); measure only once caught up.
  await resetReceiver(system, true);
  const warmup = await publishAt1000(QUICK ? 2 : 5, 'warm-up,');
  await until(async () => (await receiverStats(system)).count >= warmup, 180_000, 'the warm-up to be delivered', 100);
  await resetReceiver(system, true);
  const seconds = QUICK ? 3 : perSecond > 1000 ? 5 : 10;
  const measuredFrom = Date.now();
  const expected = await publishAt1000(seconds, 'measured,');
  await until(async () => (await receiverStats(system)).samples >= expected, 180_000, 'latency samples', 100);
  const stats = await receiverStats(system);
  return { rate: Math.round(expected / seconds), seconds, p50: stats.p50, p99: stats.p99, samples: stats.samples, slowest: await latencySplit(system, installation, measuredFrom) };
}

/** Where a delivery's time went, in ms: publisher to the api's transaction, to the fan-out, to the request's start, the request. */
interface LatencySplit {
  toApi: number;
  toFanout: number;
  toSend: number;
  request: number;
}

/**
 * The slowest 1 % of the measured deliveries (by publish to the request's end), split by the
 * instants Postgres kept: the api's transaction start (`received_at`), the fan-out's claim
 * (`fanout_at`), the first attempt's start and its duration; the mean of each part.
 */
async function latencySplit(system: System, installation: string, measuredFrom: number): Promise<LatencySplit | null> {
  const result = await system.db.raw(
    `with d as (
       select (e.data->>'sentAt')::float8 as sent,
              extract(epoch from e.received_at) * 1000 as api,
              extract(epoch from e.fanout_at) * 1000 as fanout,
              extract(epoch from coalesce(m.first_attempted_at, a.attempted_at)) * 1000 as sent_out,
              coalesce(m.first_duration_ms, a.duration_ms) as request
       from events e
       join messages m on m.event_id = e.id
       left join lateral (select attempted_at, duration_ms from attempts where message_id = m.id order by attempt limit 1) a on true
       where e.installation_id = ? and (e.data->>'sentAt')::float8 >= ?
     ), slowest as (
       select * from d order by sent_out + request - sent desc
       limit greatest(1, (select count(*) from d) / 100)
     )
     select round(avg(api - sent)::numeric, 1)::float8 as "toApi", round(avg(fanout - api)::numeric, 1)::float8 as "toFanout",
            round(avg(sent_out - fanout)::numeric, 1)::float8 as "toSend", round(avg(request)::numeric, 1)::float8 as request
     from slowest`,
    [installation, measuredFrom],
  );
  const row = (result.rows as (LatencySplit | { toApi: null })[])[0];
  return row && row.toApi !== null ? (row as LatencySplit) : null;
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
    if (PHASES.some((phase) => phase !== 'raw' && phase !== 'retention' && phase !== 'ordering' && runs(phase))) {
      const system = await startSystem(pg, redisService, receiver.port, { RETRY_SCHEDULE: '1h,2h', DELIVERY_CONCURRENCY: '256' }, { compareIdle: true });
      try {
        if (runs('deliveries')) {
          const deliveries = await measureDeliveries(system);
          results.deliveries = { ...deliveries, ratioToRawPost: Math.round((deliveries.perSecond / rawPost) * 100) / 100 };
          await snapshotWorker(system, 'deliveries');
        }
        if (runs('peer')) {
          const peer = await measurePlainPeer(pg, redisService.url, system.receiverUrl);
          const hubhook = (results.deliveries as { perSecond: number } | undefined)?.perSecond;
          results.plainPeer = { ...peer, ratioToRawPost: rawPost ? Math.round((peer.perSecond / rawPost) * 100) / 100 : null, hubhookTimesPeer: hubhook ? Math.round((hubhook / peer.perSecond) * 100) / 100 : null };
        }
        if (runs('ingest')) results.ingest = await measureIngest(system);
        if (runs('fanout')) {
          results.wideFanout = await measureWideFanout(system);
          await snapshotWorker(system, 'fanout');
        }
        if (runs('latency')) results.latency = await measureLatency(system, 1000);
        if (runs('latency5k')) results.latency5k = await measureLatency(system, 5000);
        if (runs('redis')) results.redisPerPendingDelivery = await measureRedisPerPending(system, redis);
        results.worker = { ...rssOf(system.worker.pid!), production: system.production, idleMb: system.workerIdleRssMb, otherIdle: system.otherIdle, heap: await heapOf(system) };
        await snapshotWorker(system, 'end');
      } finally {
        await stopSystem(system, redis);
      }
    }
    if (runs('retention')) results.retention = await measureRetention(pg.url, QUICK ? 50_000 : 200_000);
    if (runs('ordering')) results.ordering = await measureOrdering(receiver.port);
    if (workerCounts.length > 0) results.scaling = await measureScaling(receiver);
  } finally {
    doneProgress();
    await stopChild(receiver.child);
    await redis.quit();
    for (const service of services.reverse()) await service.stop();
  }
  report(results);
}

const splitText = (s: LatencySplit) => `${s.toApi} / ${s.toFanout} / ${s.toSend} / ${s.request}`;

function report(results: Record<string, unknown>): void {
  const r = results as Partial<{
    raw: { bullmqNoopJobsPerSecond?: number; nodeHttpPostsPerSecond: number };
    deliveries: { perSecond: number; messages: number; seconds: number; ratioToRawPost: number; cpuMicrosPerDelivery: { worker: number; api: number; postgres: number } };
    plainPeer: { perSecond: number; messages: number; seconds: number; ratioToRawPost: number | null; hubhookTimesPeer: number | null };
    ingest: { perSecond: number; events: number; cpuMicrosPerEvent: IngestCpu; fourPublishersPerSecond: number; fourPublishersCpuMicrosPerEvent: IngestCpu };
    wideFanout: { subscriptions: number; seconds: number; firstSeconds: number | null };
    latency: { rate: number; p50: number | null; p99: number | null; samples: number; slowest: LatencySplit | null };
    latency5k: { rate: number; p50: number | null; p99: number | null; samples: number; slowest: LatencySplit | null };
    redisPerPendingDelivery: { bytes: number; pending: number };
    worker: {
      rssMb: number;
      peakMb: number;
      production: boolean;
      idleMb: number;
      otherIdle: { production: boolean; rssMb: number } | null;
      heap: { heapUsedMb: number; heapTotalMb: number; externalMb: number; gcSeconds: { minor: number; major: number } } | null;
    };
    retention: RetentionResult;
    scaling: { rows: ScalingRow[]; services: string };
    ordering: { unordered: OrderingRun; ordered: OrderingRun; ratio: number; services: string };
  }>;
  const check = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const rows: [string, string, string, string][] = [];
  if (r.raw?.bullmqNoopJobsPerSecond !== undefined) rows.push(['BullMQ no-op jobs/s (raw limit)', String(r.raw.bullmqNoopJobsPerSecond), '', '']);
  if (r.raw) rows.push(['keep-alive POST/s, node:http (raw limit)', String(r.raw.nodeHttpPostsPerSecond), '', '']);
  if (r.deliveries) {
    rows.push([`deliveries/s, signed + logged, 1 KiB (${r.deliveries.messages} in ${r.deliveries.seconds} s)`, String(r.deliveries.perSecond), '', '']);
    rows.push(['  ratio to raw POST/s', r.deliveries.ratioToRawPost.toFixed(2), '>= 0.60', check(r.deliveries.ratioToRawPost >= 0.6)]);
    const cpu = r.deliveries.cpuMicrosPerDelivery;
    rows.push(['  CPU µs per delivery: worker / api / its Postgres backends', `${cpu.worker} / ${cpu.api} / ${cpu.postgres}`, '', '']);
  }
  if (r.plainPeer) {
    const p = r.plainPeer;
    rows.push([`plain BullMQ job/msg + got + row/attempt, deliveries/s (${p.messages} in ${p.seconds} s)`, String(p.perSecond), '', '']);
    if (p.ratioToRawPost !== null) rows.push(['  its ratio to raw POST/s', p.ratioToRawPost.toFixed(2), '', '']);
    if (p.hubhookTimesPeer !== null) rows.push(['  hubhook deliveries/s / plain', p.hubhookTimesPeer.toFixed(2), '>= 4', check(p.hubhookTimesPeer >= 4)]);
  }
  if (r.ingest) {
    rows.push(['ingest events/s, one sequential publisher, batches of 100', String(r.ingest.perSecond), '>= 20000', check(r.ingest.perSecond >= 20_000)]);
    const cpu = (c: IngestCpu) => `${c.api} / ${c.postgres} (${c.postgresOfApi}) / ${c.worker} / ${c.bench}`;
    const cpuLabel = "  CPU µs per event: api / Postgres backends (the api's) / worker / bench";
    rows.push([cpuLabel, cpu(r.ingest.cpuMicrosPerEvent), '', '']);
    rows.push(['  four publishers at once', String(r.ingest.fourPublishersPerSecond), '', '']);
    rows.push([cpuLabel, cpu(r.ingest.fourPublishersCpuMicrosPerEvent), '', '']);
  }
  if (r.wideFanout) {
    rows.push([`one event to ${r.wideFanout.subscriptions} subscriptions, s`, r.wideFanout.seconds.toFixed(2), '<= 1', check(r.wideFanout.seconds <= 1)]);
    // The publish, the fan-out's statements and the first lane exchange come before any request.
    if (r.wideFanout.firstSeconds !== null) rows.push(['  the first of them reached after, s', r.wideFanout.firstSeconds.toFixed(2), '', '']);
  }
  for (const [latency, target] of [[r.latency, 50], [r.latency5k, null]] as const) {
    if (!latency) continue;
    rows.push([`latency ingest->receiver at ${latency.rate}/s, p50 ms`, String(latency.p50), '', '']);
    rows.push(['  p99 ms', String(latency.p99), target === null ? '' : `<= ${target}`, target === null ? '' : check((latency.p99 ?? Infinity) <= target)]);
    if (latency.slowest) rows.push(['  slowest 1 %, ms: to the api / to the fan-out / to the send / the request', splitText(latency.slowest), '', '']);
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
  if (r.worker) {
    const how = (production: boolean) => (production ? 'production build' : 'from source, tsx');
    rows.push([`worker RSS MB at the end, ${how(r.worker.production)} (peak; idle after start)`, `${r.worker.rssMb} (${r.worker.peakMb}; ${r.worker.idleMb})`, '<= 150', check(r.worker.rssMb <= 150)]);
    const other = r.worker.otherIdle;
    if (other) rows.push([`  idle after start, ${how(other.production)}`, String(other.rssMb), '', '']);
    const h = r.worker.heap;
    if (h) rows.push(['  of it V8 heap used / reserved, external (Buffers) MB', `${h.heapUsedMb} / ${h.heapTotalMb}, ${h.externalMb}`, '', '']);
    if (h) rows.push(["  the worker's GC pauses in the run, s: minor / major", `${h.gcSeconds.minor} / ${h.gcSeconds.major}`, '', '']);
  }
  if (r.retention) {
    const { rows: n, batch, deleteMs, dropMs } = r.retention;
    rows.push([`retention of ${n} attempt rows: DELETE in batches of ${batch}, ms`, deleteMs.toFixed(0), '', '']);
    rows.push(['  DROP of their day partition, ms', dropMs.toFixed(0), '', '']);
    rows.push(['  DELETE / DROP', (deleteMs / dropMs).toFixed(0), '', '']);
  }
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length), ['measure', 'value', 'target', ''][i]!.length));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\nhubhook benchmark${QUICK ? ' (--quick)' : ''}, ${results.startedAt as string}`);
  if (rows.length > 0) {
    console.log(line(['measure', 'value', 'target', '']));
    console.log(line(widths.map((w) => '-'.repeat(w))));
    for (const row of rows) console.log(line(row));
  }
  if (r.scaling) printScaling(r.scaling.rows, r.scaling.services);
  mkdirSync('bench-results', { recursive: true });
  const file = path.join('bench-results', `bench-${(results.startedAt as string).replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nresults written to ${file}`);
}

/** Right-aligned columns under a heading. */
function printColumns(head: string[], table: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  console.log(head.map((h, i) => h.padStart(w[i]!)).join('  '));
  for (const row of table) console.log(row.map((c, i) => c.padStart(w[i]!)).join('  '));
}

function printScaling(rows: ScalingRow[], services: string): void {
  const runs = rows.flatMap((row) => [
    { row, load: `burst ${row.perSecond}/s`, costs: row.burst },
    { row, load: `steady ${row.steady.perSecond}/s`, costs: row.steady },
  ]);
  console.log(`\nscaling: the production build, one api, N workers, ${services}; ${CORES} cores shared with the receiver, the bench and whatever else runs`);
  printColumns(
    ['workers', 'deliveries/s (burst)', 'efficiency', 'deliveries', 'seconds'],
    rows.map((row) => [row.workers, row.perSecond, row.efficiency.toFixed(2), row.messages, row.seconds].map(String)),
  );
  console.log(`\nCPU µs per delivery, from /proc: the burst above, and a steady ${STEADY.perSecond}/s for ${STEADY.seconds} s (others: the rest of the machine meanwhile)`);
  printColumns(
    ['workers', 'load', 'worker µs', 'api µs', 'postgres µs', 'redis µs', 'receiver µs', 'bench µs', 'others µs', 'busy cores'],
    runs.map(({ row, load, costs }) => {
      const cpu = costs.cpuMicrosPerDelivery;
      return [row.workers, load, cpu.worker, cpu.api, cpu.postgres, cpu.redis, cpu.receiver, cpu.bench, cpu.others, `${costs.machineBusyCores.toFixed(2)}/${CORES}`].map(String);
    }),
  );
  console.log("\nper delivery, from the phase's own Postgres and Redis");
  printColumns(
    ['workers', 'load', 'rows ins', 'rows upd (HOT)', 'rows del', 'WAL bytes', 'WAL records', 'full pages', 'commits', 'redis cmds'],
    runs.map(({ row, load, costs }) => {
      const d = costs.perDelivery;
      return [
        row.workers,
        load,
        d.rowsInserted.toFixed(2),
        `${d.rowsUpdated.toFixed(2)} (${d.rowsHotUpdated.toFixed(2)})`,
        d.rowsDeleted.toFixed(2),
        d.walBytes,
        d.walRecords.toFixed(1),
        d.walFpi.toFixed(2),
        d.commits.toFixed(3),
        d.redisCommands.toFixed(1),
      ].map(String);
    }),
  );
  const byTable = (costs: Costs) =>
    Object.entries(costs.rowsPerDeliveryByTable)
      .map(([table, n]) => `${table} ${[n.ins && `+${n.ins}`, n.upd && `~${n.upd}`, n.del && `-${n.del}`].filter(Boolean).join(' ')}`)
      .join(', ');
  const commands = (costs: Costs) =>
    Object.entries(costs.redisCommandsPerDelivery)
      .slice(0, 8)
      .map(([name, n]) => `${name} ${n}`)
      .join(', ');
  console.log('\nrows per delivery by table (+ inserted, ~ updated, - deleted) and the most frequent Redis commands per delivery:');
  for (const { row, load, costs } of runs) {
    console.log(`  ${row.workers} workers, ${load}: ${byTable(costs)}`);
    console.log(`  ${' '.repeat(String(row.workers).length)}          redis: ${commands(costs)}`);
  }
  console.log('\npeak connections during the burst, and idle CPU ms/s after the warm-up (worker: each process)');
  printColumns(
    ['workers', 'pg conns api', 'pg conns workers', 'redis clients', 'idle worker ms/s', 'idle api ms/s', 'idle postgres ms/s', 'idle redis ms/s'],
    rows.map((row) => {
      const pgConns = row.peakConnections.postgres;
      const idle = row.idleCpuMillisPerSecond;
      return [row.workers, pgConns['hubhook-api'] ?? 0, pgConns['hubhook-worker'] ?? 0, row.peakConnections.redis, idle.worker, idle.api, idle.postgres, idle.redis].map(String);
    }),
  );
  const storage = rows.at(-1)?.storageBytesPerRow ?? {};
  console.log(`\nbytes on disk per row (heap + indexes + TOAST; 1 KiB events, each to 50 subscriptions): ${Object.entries(storage).map(([table, bytes]) => `${table} ${bytes}`).join(', ')}`);
}

main().catch((err: unknown) => {
  doneProgress();
  console.error(err);
  process.exit(1);
});

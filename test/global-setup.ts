import path from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtempSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { findRedis, findTestPostgres, type LocalService } from '../scripts/lib/local-services.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
  }
}

/**
 * Finds Postgres and Redis once for the whole run, the way `npm start` does: DATABASE_URL and
 * REDIS_URL, else the local ones, else an embedded Postgres and a started redis-server.
 * Each test file then makes its own schema and queue prefix (test/support/context.ts).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: LocalService[] = [];
  const pg = await findTestPostgres(process.env, path.join(mkdtempSync(path.join(tmpdir(), 'hubhook-pg-')), 'data'));
  started.push(pg);
  const redis = await findRedis(process.env);
  started.push(redis);
  project.provide('databaseUrl', pg.url);
  project.provide('redisUrl', redis.url);
  return async () => {
    for (const service of started.reverse()) await service.stop();
  };
}

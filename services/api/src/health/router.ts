import { z } from 'zod';
import { pingDb } from '#shared/db/knex';
import { pingRedis } from '#shared/queues/connection';
import { AppError } from '#shared/errors';
import type { ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';

const CHECK_TIMEOUT_MS = 2_000;
const READY_RETRY_AFTER_SECONDS = 5;

/**
 * Runs one dependency's probe; null when it answered, else the raw error text. That text (a
 * host name, a port, a user) is for the log, never for the answer: /readyz is public.
 */
async function check(probe: () => Promise<unknown>): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return null;
  } catch (err) {
    return (err as Error).message || String(err);
  } finally {
    clearTimeout(timer);
  }
}

const Liveness = z.object({ status: z.literal('ok') }).meta({ id: 'Liveness' });
const Ready = z.object({ status: z.literal('ready'), checks: z.object({ postgres: z.string(), redis: z.string() }) }).meta({ id: 'Readiness' });

/** Liveness and readiness probes. */
export function registerHealthRoutes(api: ApiRoutes, deps: AppDeps): void {
  api.add({
    method: 'get',
    path: '/healthz',
    operationId: 'getLiveness',
    auth: ['public'],
    summary: 'Liveness: the process answers',
    tags: ['health'],
    responses: { 200: Liveness },
    handler: () => ({ status: 200, body: { status: 'ok' } }),
  });

  api.add({
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    auth: ['public'],
    summary: 'Readiness: Postgres and Redis answer',
    tags: ['health'],
    responses: { 200: Ready, 503: 'Postgres or Redis does not answer; details name which (the error itself goes to the log)' },
    handler: async ({ req }) => {
      const [postgres, redis] = await Promise.all([check(() => pingDb(deps.db)), check(() => pingRedis(deps.redis))]);
      if (!postgres && !redis) return { status: 200, body: { status: 'ready', checks: { postgres: 'ok', redis: 'ok' } } };
      const failures = { postgres, redis };
      const details = Object.entries(failures)
        .filter((entry): entry is [string, string] => entry[1] !== null)
        .map(([dependency, error]) => {
          req.log.warn({ dependency, error }, 'readiness check failed');
          return { path: dependency, message: 'not answering', code: 'dependency_unavailable' };
        });
      const failed = details.map((d) => d.path).join(' and ');
      // Probes and load balancers may honour Retry-After; a few seconds is how long a restart usually takes.
      throw Object.assign(new AppError(503, 'not_ready', `${failed} not answering`, details), { retryAfterSeconds: READY_RETRY_AFTER_SECONDS });
    },
  });
}

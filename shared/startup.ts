import pRetry from 'p-retry';
import type { RedisConnection } from './queues/connection.ts';
import type { Knex } from './db/knex.ts';
import type { Logger } from './logger.ts';

/** Options of `waitForServices`. */
export interface WaitOptions {
  /** Give up after this long in all; default 2 min. */
  timeoutMs?: number;
  /** One try's bound: an ioredis PING queues until connected, so it needs its own; default 2 s. */
  tryTimeoutMs?: number;
  /** Longest pause between tries; default 5 s. */
  maxDelayMs?: number;
}

const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    promise.then(resolve, reject).finally(() => clearTimeout(timer));
  });

/**
 * Waits until Postgres answers `select 1` and Redis answers PING: compose and orchestrators
 * start the api and the workers together with the databases, before those accept connections.
 * Each service is tried with exponential backoff (p-retry) and every failed try is logged with
 * the next delay.
 *
 * Failure policy: after `timeoutMs` it throws the last error; the entry point exits non-zero so
 * the orchestrator restarts the process. It never gives up early on a connection error.
 */
export async function waitForServices(db: Knex, redis: RedisConnection, logger: Logger, options: WaitOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const tryTimeoutMs = options.tryTimeoutMs ?? 2_000;
  const wait = (name: string, check: () => Promise<unknown>) =>
    pRetry(() => within(check(), tryTimeoutMs, name), {
      retries: Number.POSITIVE_INFINITY,
      maxRetryTime: timeoutMs,
      minTimeout: 200,
      maxTimeout: options.maxDelayMs ?? 5_000,
      onFailedAttempt: ({ error, attemptNumber }) => {
        logger.warn({ service: name, attempt: attemptNumber, err: error.message }, `${name} not ready yet; trying again`);
      },
    });
  await Promise.all([wait('postgres', () => db.raw('select 1')), wait('redis', () => redis.ping())]);
}

import { z } from 'zod';
import { parseDuration, parseSchedule } from './duration.ts';
import { parseAllowList, UrlGuardConfigError } from './url-guard.ts';
import { parseRateLimit } from './rate-limit.ts';
import { MAX_SHARDS, parseShardList } from './queues/shards.ts';
import { hashTagOf } from './queues/key-slot.ts';

/**
 * Every setting hubhook reads from the environment, parsed once at start.
 * A bad value stops the process with a message naming the variable (see `loadConfig`).
 * `.env.example` documents each of them; keep the two in step.
 */

/**
 * A zod transform that runs `parse` on the setting's text and reports what it throws as an
 * issue on the variable (the parser's message names what is wrong; the path names the variable).
 */
const parsedWith =
  <T>(parse: (value: string) => T, message: (err: Error) => string = (err) => err.message) =>
  (value: string, ctx: z.RefinementCtx): T => {
    try {
      return parse(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: message(err as Error) });
      return z.NEVER;
    }
  };

const duration = (fallback: string) => z.string().default(fallback).transform(parsedWith(parseDuration));

const rateLimit = (fallback: string) => z.string().default(fallback).transform(parsedWith(parseRateLimit));

/** The least a delivery lease may outlast the request timeout. */
export const MIN_LEASE_MARGIN_MS = 500;

/** The default delivery lease for a request timeout: twice the timeout. */
export const deliveryLeaseFor = (timeoutMs: number) => timeoutMs * 2;

const int = (fallback: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/**
 * A duration in the one form every duration setting takes (`500ms`, `15s`, `2m`), within
 * bounds. It replaces an older `<NAME>_MS` setting (whole milliseconds), which is still read
 * when the new name is unset (see `DURATION_RENAMES`).
 */
const boundedDuration = (minMs: number, maxMs: number) =>
  z
    .string()
    .transform(parsedWith(parseDuration))
    .pipe(z.number().min(minMs, { message: `must be at least ${minMs} ms`, abort: true }).max(maxMs, { message: `must be at most ${maxMs / 1000} s`, abort: true }));

/** Duration settings renamed from `_MS` integers: the old name still works (whole milliseconds). */
const DURATION_RENAMES = { DELIVERY_TIMEOUT: 'DELIVERY_TIMEOUT_MS', VERIFY_TIMEOUT: 'VERIFY_TIMEOUT_MS', SHUTDOWN_TIMEOUT: 'SHUTDOWN_TIMEOUT_MS' } as const;

// The SSRF guard's own parser, so an entry it could not use stops the start, naming the variable.
const allowList = z
  .string()
  .default('')
  // The issue path names the variable; the guard's own message would name it a second time.
  .transform(parsedWith(parseAllowList, (err) => (err instanceof UrlGuardConfigError ? `${err.reason}: "${err.entry}"` : err.message)));

const secretsKey = z
  .string()
  .refine((value) => Buffer.from(value, 'base64').length === 32, 'must be 32 bytes, base64-encoded')
  .optional();

// Seeds of a Redis Cluster, `host:port,host:port`: each must parse, or the start stops naming the variable.
const clusterNodes = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined) return null;
    const seeds = [];
    for (const raw of value.split(',')) {
      const entry = raw.trim();
      const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry);
      const port = match ? Number(match[2]) : 0;
      if (!match || port < 1 || port > 65535) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" is not a host:port seed (e.g. redis-1:6379)` });
        return z.NEVER;
      }
      seeds.push({ host: match[1]!.replace(/^\[|\]$/g, ''), port });
    }
    return seeds;
  });

const token = z.string().min(16, 'must be at least 16 characters');

/** The shortest operator or HUB token accepted when HUBHOOK_ENV=production. */
export const PRODUCTION_TOKEN_LENGTH = 32;

const EnvSchema = z
  .object({
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// URL')
      .default('redis://127.0.0.1:6379'),
    REDIS_CLUSTER_NODES: clusterNodes,
    // Parts the delivery work is split into, each in a hash tag of its own (shared/queues/shards.ts).
    DELIVERY_SHARDS: int(1, 1, MAX_SHARDS),
    // The shards this worker serves (`0,2,5-7`); unset: all of them. Checked against DELIVERY_SHARDS below.
    WORKER_SHARDS: z.string().optional(),
    PORT: int(3000, 0, 65535),
    HUBHOOK_ENV: z.enum(['test', 'production']).default('test'),
    OPERATOR_TOKEN: token,
    HUB_TOKEN: token,
    SECRETS_KEY: secretsKey,
    RETRY_SCHEDULE: z
      .string()
      .default('5s,5m,30m,2h,5h,10h,10h')
      .transform(parsedWith(parseSchedule)),
    DELIVERY_TIMEOUT: boundedDuration(100, 120_000).default(15_000),
    DELIVERY_TIMEOUT_MS: int(15_000, 100, 120_000).optional(),
    VERIFY_TIMEOUT: boundedDuration(100, 60_000).default(5_000),
    VERIFY_TIMEOUT_MS: int(5_000, 100, 60_000).optional(),
    DISABLE_AFTER: duration('5d'),
    ALLOW_PRIVATE_RECEIVERS: allowList,
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_{}:-]+$/, 'letters, digits, _ - : { } only')
      .default('{hubhook}'),
    BODY_LIMIT: z
      .string()
      .regex(/^\d+(b|kb|mb)$/i, 'a size such as 1mb or 512kb')
      .default('1mb'),
    EVENTS_BODY_LIMIT: z
      .string()
      .regex(/^\d+(b|kb|mb)$/i, 'a size such as 8mb')
      .default('8mb'),
    MAX_IN_FLIGHT_PER_SUBSCRIPTION: int(10, 1, 1000),
    DELIVERY_CONCURRENCY: int(200, 1, 10_000),
    // First deliveries waiting in one worker's lanes, at most: a fan-out whose messages would not
    // fit waits (its events wait in Postgres), and the deepest lanes' newest are written out meanwhile.
    DELIVERY_BACKLOG: int(10_000, 1, 1_000_000),
    // 0: V8 sizes the worker's heap as it likes; else its growing factor (V8's --heap-growing-percent).
    WORKER_HEAP_GROWTH_PERCENT: int(0, 0, 300),
    // Unset: derived from DELIVERY_TIMEOUT (see toConfig), so it outlasts a request by construction.
    DELIVERY_LEASE: z
      .string()
      .optional()
      .transform((value, ctx) => (value === undefined ? undefined : parsedWith(parseDuration)(value, ctx))),
    RECONCILE_INTERVAL: duration('30s'),
    UPGRADE_NOTICE_DELAY: duration('2s'),
    RETENTION_MESSAGES: duration('30d'),
    // Unset: as long as messages (a first success then lives in its message's row, migration 0014).
    RETENTION_ATTEMPTS: z
      .string()
      .optional()
      .transform((value, ctx) => (value === undefined ? undefined : parsedWith(parseDuration)(value, ctx))),
    // Postgres connections each process may hold; size against max_connections (docs/partitioning.md).
    DATABASE_POOL_MAX: int(10, 1, 500),
    SHUTDOWN_TIMEOUT: boundedDuration(100, 120_000).default(10_000),
    SHUTDOWN_TIMEOUT_MS: int(10_000, 100, 120_000).optional(),
    STARTUP_TIMEOUT: duration('2m'),
    METRICS_PORT: int(9464, 0, 65535),
    SMTP_URL: z
      .string()
      .regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')
      .optional(),
    MAIL_FROM: z.string().default('hubhook <no-reply@hubhook.local>'),
    PUBLIC_URL: z
      .string()
      .regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL')
      .transform((value) => value.replace(/\/+$/, ''))
      .optional(),
    SIGN_IN_CODE_TTL: duration('10m'),
    SESSION_TTL: duration('12h'),
    RATE_LIMIT_APPLICATIONS: rateLimit('5/1h'),
    RATE_LIMIT_AUTH_PER_EMAIL: rateLimit('10/15m'),
    RATE_LIMIT_AUTH_PER_CLIENT: rateLimit('30/15m'),
    RATE_LIMIT_BAD_TOKENS: rateLimit('20/15m'),
    // Events for an installation or of a type hubhook does not know: counted and listed (false),
    // or refused with 422 naming them (true).
    HUB_REJECT_UNKNOWN: z.enum(['true', 'false'], { message: 'must be true or false' }).default('false').transform((v) => v === 'true'),
  })
  .superRefine((env, ctx) => {
    // A lease must cover a whole request and the writing of its outcome, with room to renew it
    // before the request starts; shorter, the reconciler could send a message still in flight.
    if (env.DELIVERY_LEASE !== undefined && env.DELIVERY_LEASE < env.DELIVERY_TIMEOUT + MIN_LEASE_MARGIN_MS) {
      ctx.addIssue({ code: 'custom', path: ['DELIVERY_LEASE'], message: `must be at least DELIVERY_TIMEOUT + ${MIN_LEASE_MARGIN_MS} ms (${env.DELIVERY_TIMEOUT + MIN_LEASE_MARGIN_MS} ms)` });
    }
    // On a cluster every BullMQ queue's keys must share one slot: the prefix needs a hash tag.
    if (env.REDIS_CLUSTER_NODES && hashTagOf(env.QUEUE_PREFIX) === env.QUEUE_PREFIX) {
      ctx.addIssue({ code: 'custom', path: ['QUEUE_PREFIX'], message: 'must hold a {hash tag} (e.g. {hubhook}) when REDIS_CLUSTER_NODES is set' });
    }
    if (env.WORKER_SHARDS !== undefined) {
      try {
        parseShardList(env.WORKER_SHARDS, env.DELIVERY_SHARDS);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['WORKER_SHARDS'], message: (err as Error).message });
      }
    }
    if (env.HUBHOOK_ENV === 'production') {
      if (!env.SECRETS_KEY) ctx.addIssue({ code: 'custom', path: ['SECRETS_KEY'], message: 'is required when HUBHOOK_ENV=production' });
      // Bearer tokens must be unguessable: 32 characters of `openssl rand -hex 16` carry 128 bits.
      for (const name of ['OPERATOR_TOKEN', 'HUB_TOKEN'] as const) {
        if (env[name].length < PRODUCTION_TOKEN_LENGTH) {
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: `must be at least ${PRODUCTION_TOKEN_LENGTH} characters when HUBHOOK_ENV=production (e.g. openssl rand -hex 24)`,
          });
        }
      }
    }
  });

export type Env = z.infer<typeof EnvSchema>;

/** The parsed settings, in the shape the code uses them. */
export type Config = ReturnType<typeof toConfig>;

function toConfig(env: Env) {
  return {
    env: env.HUBHOOK_ENV,
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    /** Seeds of a Redis Cluster; when set, REDIS_URL is unused. */
    redisClusterNodes: env.REDIS_CLUSTER_NODES,
    deliveryShards: env.DELIVERY_SHARDS,
    /** The delivery shards this process's workers serve. */
    workerShards: env.WORKER_SHARDS === undefined ? Array.from({ length: env.DELIVERY_SHARDS }, (_, i) => i) : parseShardList(env.WORKER_SHARDS, env.DELIVERY_SHARDS),
    port: env.PORT,
    operatorToken: env.OPERATOR_TOKEN,
    hubToken: env.HUB_TOKEN,
    secretsKey: env.SECRETS_KEY,
    retryScheduleMs: env.RETRY_SCHEDULE,
    deliveryTimeoutMs: env.DELIVERY_TIMEOUT,
    verifyTimeoutMs: env.VERIFY_TIMEOUT,
    disableAfterMs: env.DISABLE_AFTER,
    allowPrivateReceivers: env.ALLOW_PRIVATE_RECEIVERS,
    logLevel: env.LOG_LEVEL,
    queuePrefix: env.QUEUE_PREFIX,
    bodyLimit: env.BODY_LIMIT,
    eventsBodyLimit: env.EVENTS_BODY_LIMIT,
    maxInFlightPerSubscription: env.MAX_IN_FLIGHT_PER_SUBSCRIPTION,
    deliveryConcurrency: env.DELIVERY_CONCURRENCY,
    /** First deliveries waiting in a worker's lanes, at most: a fan-out whose messages would not fit waits (`Dispatcher.admit`). */
    deliveryBacklog: env.DELIVERY_BACKLOG,
    /** After a full GC the worker's heap may grow to (1 + this/100) x what survived; 0: V8's own choice (up to 4x). */
    workerHeapGrowthPercent: env.WORKER_HEAP_GROWTH_PERCENT,
    deliveryLeaseMs: env.DELIVERY_LEASE ?? deliveryLeaseFor(env.DELIVERY_TIMEOUT),
    reconcileIntervalMs: env.RECONCILE_INTERVAL,
    upgradeNoticeDelayMs: env.UPGRADE_NOTICE_DELAY,
    retentionMessagesMs: env.RETENTION_MESSAGES,
    retentionAttemptsMs: env.RETENTION_ATTEMPTS ?? env.RETENTION_MESSAGES,
    databasePoolMax: env.DATABASE_POOL_MAX,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT,
    startupTimeoutMs: env.STARTUP_TIMEOUT,
    metricsPort: env.METRICS_PORT,
    smtpUrl: env.SMTP_URL,
    mailFrom: env.MAIL_FROM,
    publicUrl: env.PUBLIC_URL,
    signInCodeTtlMs: env.SIGN_IN_CODE_TTL,
    sessionTtlMs: env.SESSION_TTL,
    hubRejectUnknown: env.HUB_REJECT_UNKNOWN,
    rateLimits: {
      applicationsPerClient: env.RATE_LIMIT_APPLICATIONS,
      authPerEmail: env.RATE_LIMIT_AUTH_PER_EMAIL,
      authPerClient: env.RATE_LIMIT_AUTH_PER_CLIENT,
      badTokensPerClient: env.RATE_LIMIT_BAD_TOKENS,
    },
  };
}

/** A setting that could not be parsed; `problems` names each variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment into a Config; throws ConfigError naming every bad variable. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, as they do in most .env files and compose files.
  const env: Record<string, string | undefined> = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== undefined && value !== ''));
  // An old `_MS` name stands in for its new duration name when that is unset: `15000` reads as `15000ms`.
  for (const [name, old] of Object.entries(DURATION_RENAMES)) {
    const legacy = env[old];
    if (env[name] === undefined && legacy !== undefined && /^\d+$/.test(legacy.trim())) env[name] = `${legacy.trim()}ms`;
  }
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`),
    );
  }
  return toConfig(parsed.data);
}

/** loadConfig for an entry point: on a bad value, print what is wrong and exit 1. */
export function loadConfigOrExit(source: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(source);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
}

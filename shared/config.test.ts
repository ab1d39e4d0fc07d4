import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

const base = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
  OPERATOR_TOKEN: 'operator-token-0123456789',
  HUB_TOKEN: 'hub-token-0123456789abcdef',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(base);
    expect(config).toMatchObject({
      env: 'test',
      port: 3000,
      redisUrl: 'redis://127.0.0.1:6379',
      retryScheduleMs: [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000],
      deliveryTimeoutMs: 15_000,
      verifyTimeoutMs: 5_000,
      disableAfterMs: 5 * 86_400_000,
      allowPrivateReceivers: [],
      logLevel: 'info',
      hubRejectUnknown: false,
    });
    expect(loadConfig({ ...base, HUB_REJECT_UNKNOWN: 'true' }).hubRejectUnknown).toBe(true);
  });

  it('parses lists and durations', () => {
    const config = loadConfig({ ...base, RETRY_SCHEDULE: '1s, 2m,3h', ALLOW_PRIVATE_RECEIVERS: '127.0.0.0/8, ::1', DISABLE_AFTER: '12h' });
    expect(config.retryScheduleMs).toEqual([1_000, 120_000, 10_800_000]);
    expect(config.allowPrivateReceivers).toEqual(['127.0.0.0/8', '::1']);
    expect(config.disableAfterMs).toBe(43_200_000);
  });

  it('reads every duration in one form, and still the old _MS names as milliseconds', () => {
    const config = loadConfig({ ...base, DELIVERY_TIMEOUT: '20s', VERIFY_TIMEOUT: '1500ms', SHUTDOWN_TIMEOUT: '1m', STARTUP_TIMEOUT: '30s' });
    expect(config).toMatchObject({ deliveryTimeoutMs: 20_000, verifyTimeoutMs: 1_500, shutdownTimeoutMs: 60_000, startupTimeoutMs: 30_000 });
    const legacy = loadConfig({ ...base, DELIVERY_TIMEOUT_MS: '20000', VERIFY_TIMEOUT_MS: '1500', SHUTDOWN_TIMEOUT_MS: '60000' });
    expect(legacy).toMatchObject({ deliveryTimeoutMs: 20_000, verifyTimeoutMs: 1_500, shutdownTimeoutMs: 60_000 });
    // The new name wins where both are set.
    expect(loadConfig({ ...base, DELIVERY_TIMEOUT: '9s', DELIVERY_TIMEOUT_MS: '20000' }).deliveryTimeoutMs).toBe(9_000);
  });

  it.each([
    ['DELIVERY_TIMEOUT', '15000'],
    ['DELIVERY_TIMEOUT', '10m'],
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['HUBHOOK_ENV', 'staging'],
    ['RETRY_SCHEDULE', '5s,soon'],
    ['DISABLE_AFTER', 'forever'],
    ['DELIVERY_TIMEOUT_MS', '-1'],
    ['LOG_LEVEL', 'loud'],
    ['SECRETS_KEY', 'c2hvcnQ='],
    ['REDIS_URL', 'http://localhost:6379'],
    ['DATABASE_URL', 'mysql://localhost/x'],
    ['OPERATOR_TOKEN', 'short'],
    ['ALLOW_PRIVATE_RECEIVERS', '127.0.0.0/8,10.1/8'],
    ['HUB_REJECT_UNKNOWN', 'yes'],
    ['REDIS_CLUSTER_NODES', '127.0.0.1:7000,redis-2'],
    ['REDIS_CLUSTER_NODES', 'redis-1:99999'],
    ['DELIVERY_SHARDS', '0'],
    ['DELIVERY_SHARDS', '257'],
    ['WORKER_SHARDS', '1'],
  ])('names %s when it is %s', (name, value) => {
    expect(problems({ ...base, [name]: value })).toEqual([expect.stringMatching(new RegExp(`^${name}: `))]);
  });

  it('reads Redis Cluster seeds and delivery shards', () => {
    const config = loadConfig({ ...base, REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-2:7001,[::1]:7002', DELIVERY_SHARDS: '6', WORKER_SHARDS: '0,4-5' });
    expect(config.redisClusterNodes).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-2', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
    expect(config).toMatchObject({ deliveryShards: 6, workerShards: [0, 4, 5] });
    expect(loadConfig({ ...base, DELIVERY_SHARDS: '3' }).workerShards).toEqual([0, 1, 2]);
    expect(loadConfig(base)).toMatchObject({ redisClusterNodes: null, deliveryShards: 1, workerShards: [0] });
    // On a cluster every queue's keys must share a slot: the prefix needs its braces.
    expect(problems({ ...base, REDIS_CLUSTER_NODES: 'redis-1:7000', QUEUE_PREFIX: 'hubhook' })).toEqual([expect.stringMatching(/^QUEUE_PREFIX: must hold a \{hash tag\}/)]);
  });

  const longTokens = { OPERATOR_TOKEN: 'o'.repeat(32), HUB_TOKEN: 'h'.repeat(32) };
  const secretsKey = Buffer.alloc(32, 1).toString('base64');

  it('requires SECRETS_KEY in production', () => {
    expect(problems({ ...base, ...longTokens, HUBHOOK_ENV: 'production' })).toEqual([expect.stringMatching(/^SECRETS_KEY: .*production/)]);
  });

  it('refuses operator and HUB tokens shorter than 32 characters in production, naming each', () => {
    const found = problems({ ...base, HUBHOOK_ENV: 'production', SECRETS_KEY: secretsKey, OPERATOR_TOKEN: 'o'.repeat(31), HUB_TOKEN: 'h'.repeat(20) });
    expect(found).toEqual([
      'OPERATOR_TOKEN: must be at least 32 characters when HUBHOOK_ENV=production (e.g. openssl rand -hex 24)',
      'HUB_TOKEN: must be at least 32 characters when HUBHOOK_ENV=production (e.g. openssl rand -hex 24)',
    ]);
    expect(problems({ ...base, ...longTokens, HUBHOOK_ENV: 'production', SECRETS_KEY: secretsKey })).toEqual([]);
    // Outside production the shorter development tokens still do.
    expect(problems({ ...base, OPERATOR_TOKEN: 'o'.repeat(16), HUB_TOKEN: 'h'.repeat(16) })).toEqual([]);
  });

  it('stops the api in production on a short token, naming the variable', () => {
    const run = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', 'services/api/src/main.ts'], {
      env: { PATH: process.env.PATH, ...base, HUBHOOK_ENV: 'production', SECRETS_KEY: secretsKey, HUB_TOKEN: 'h'.repeat(32), OPERATOR_TOKEN: 'too-short-for-production' },
      encoding: 'utf8',
      // Starting tsx takes seconds on a loaded machine.
      timeout: 60_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('OPERATOR_TOKEN: must be at least 32 characters when HUBHOOK_ENV=production');
  }, 90_000);

  it("reads the worker's heap growth: V8's own by default, a percent up to 300, anything else named", () => {
    expect(loadConfig(base).workerHeapGrowthPercent).toBe(0);
    expect(loadConfig({ ...base, WORKER_HEAP_GROWTH_PERCENT: '100' }).workerHeapGrowthPercent).toBe(100);
    for (const bad of ['-1', '301', '50%', 'lots']) expect(problems({ ...base, WORKER_HEAP_GROWTH_PERCENT: bad }).map((p) => p.split(':')[0])).toEqual(['WORKER_HEAP_GROWTH_PERCENT']);
  });

  it('names every missing required variable at once', () => {
    expect(problems({}).map((p) => p.split(':')[0])).toEqual(['DATABASE_URL', 'OPERATOR_TOKEN', 'HUB_TOKEN']);
  });

  it('stops the api process with a message naming the bad variable', () => {
    const run = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', 'services/api/src/main.ts'], {
      env: { PATH: process.env.PATH, ...base, PORT: 'not-a-port' },
      encoding: 'utf8',
      // Starting tsx takes seconds on a loaded machine.
      timeout: 60_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('PORT:');
  }, 90_000);
});

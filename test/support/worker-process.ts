import { spawn, type ChildProcess } from 'node:child_process';
import { killOnExit } from './children.ts';
import type { TestContext } from './context.ts';

/** A worker started from its production entry point, and the JSON line it logged on start. */
export interface WorkerProcess {
  child: ChildProcess;
  started: Record<string, unknown>;
}

/**
 * Starts `services/worker/src/main.ts` as its own process on the test's schema and queue prefix,
 * and resolves once it has logged that it started (its signal handlers exist from then on).
 */
export async function startWorkerProcess(ctx: TestContext, env: Record<string, string> = {}): Promise<WorkerProcess> {
  const url = new URL(ctx.config.databaseUrl);
  url.searchParams.set('options', `-c search_path=${ctx.schema}`);
  const child = killOnExit(spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'services/worker/src/main.ts'], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: url.toString(),
      REDIS_URL: ctx.config.redisUrl,
      // The test's Redis Cluster and shard count, when it runs on one.
      ...(ctx.config.redisClusterNodes ? { REDIS_CLUSTER_NODES: ctx.config.redisClusterNodes.map((n) => `${n.host}:${n.port}`).join(',') } : {}),
      DELIVERY_SHARDS: String(ctx.config.deliveryShards),
      QUEUE_PREFIX: ctx.queuePrefix,
      OPERATOR_TOKEN: ctx.config.operatorToken,
      HUB_TOKEN: ctx.config.hubToken,
      SECRETS_KEY: ctx.config.secretsKey,
      ALLOW_PRIVATE_RECEIVERS: '127.0.0.0/8',
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  }));
  const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.includes('worker started'));
      if (line) resolve(JSON.parse(line) as Record<string, unknown>);
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code} before starting`)));
  });
  child.stdout!.resume();
  return { child, started };
}

/** Stops a worker process with `signal` and resolves to its exit code. */
export function stopWorkerProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill(signal);
  });
}

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { killOnExit } from '../support/children.ts';

/** A free loopback port (nothing listens on it once this returns). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A TCP proxy from `port` to `target`: Postgres "comes up" when this starts listening. */
async function startProxy(port: number, target: { host: string; port: number }): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Starts an entry point with the test's settings, collecting its log lines. */
function startProcess(ctx: TestContext, script: string, env: Record<string, string>): { child: ChildProcess; lines: string[] } {
  const child = killOnExit(spawn(process.execPath, ['--conditions=source', '--import', 'tsx', script], {
    env: {
      PATH: process.env.PATH,
      QUEUE_PREFIX: ctx.queuePrefix,
      OPERATOR_TOKEN: ctx.config.operatorToken,
      HUB_TOKEN: ctx.config.hubToken,
      SECRETS_KEY: ctx.config.secretsKey,
      PORT: '0',
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  }));
  const lines: string[] = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  return { child, lines };
}

/** The first JSON log line whose message matches (other output, such as a driver's warning, is skipped). */
function logged(lines: string[], pattern: RegExp): Record<string, unknown> | undefined {
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (pattern.test(String(entry.msg))) return entry;
  }
  return undefined;
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

describe('start-up before the databases accept connections', () => {
  let ctx: TestContext;
  const children: ChildProcess[] = [];
  let proxy: { close(): Promise<void> } | null = null;
  let redis: ChildProcess | null = null;

  beforeAll(async () => {
    ctx = await startTestContext();
  });

  afterAll(async () => {
    await Promise.all(children.map(stop));
    await proxy?.close();
    if (redis) await stop(redis);
    await ctx?.stop();
  });

  it('the api and the worker wait for Postgres and Redis, then become ready', async () => {
    const [pgPort, redisPort] = [await freePort(), await freePort()];
    const real = new URL(ctx.config.databaseUrl);
    const late = new URL(ctx.config.databaseUrl);
    late.hostname = '127.0.0.1';
    late.port = String(pgPort);
    late.searchParams.set('options', `-c search_path=${ctx.schema}`);
    const env = { DATABASE_URL: late.toString(), REDIS_URL: `redis://127.0.0.1:${redisPort}` };

    const api = startProcess(ctx, 'services/api/src/main.ts', env);
    const worker = startProcess(ctx, 'services/worker/src/main.ts', env);
    children.push(api.child, worker.child);

    // Both are up and trying, and neither has given up: nothing accepts connections yet.
    for (const p of [api, worker]) {
      await eventually(() => logged(p.lines, /postgres not ready yet/) && logged(p.lines, /redis not ready yet/), { what: 'tries logged', timeoutMs: 60_000 });
      expect(p.child.exitCode).toBeNull();
    }
    expect(logged(api.lines, /api listening/)).toBeUndefined();
    expect(logged(worker.lines, /worker started/)).toBeUndefined();

    // Now the databases come up.
    proxy = await startProxy(pgPort, { host: real.hostname, port: Number(real.port || 5432) });
    redis = killOnExit(spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }));

    const listening = await eventually(() => logged(api.lines, /api listening/), { what: 'the api listening', timeoutMs: 60_000 });
    await eventually(() => logged(worker.lines, /worker started/), { what: 'the worker started', timeoutMs: 60_000 });
    const ready = await eventually(
      async () => {
        const res = await fetch(`${String(listening.url)}/readyz`);
        return res.status === 200 ? res.status : undefined;
      },
      { what: 'the api ready', timeoutMs: 30_000 },
    );
    expect(ready).toBe(200);
  }, 180_000);
});

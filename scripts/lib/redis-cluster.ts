import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, redisAnswers } from './local-services.ts';

/** Options for `startRedisCluster`. */
export interface RedisClusterOptions {
  /** Masters; the hash slots are split evenly between them. Default 3. */
  masters?: number;
  /** Replicas per master. Default 1. */
  replicas?: number;
  /** Where the nodes keep nodes.conf; a fresh temporary folder by default, removed on stop. */
  dir?: string;
}

/** One node of a started cluster. */
export interface ClusterNode {
  host: string;
  port: number;
}

/** A local Redis Cluster made of `redis-server` processes on loopback. */
export interface LocalRedisCluster {
  /** Every node as `host:port`, the form REDIS_CLUSTER_NODES takes. */
  seeds: string[];
  nodes: ClusterNode[];
  /** The nodes that serve hash slots now (CLUSTER NODES), as `host:port`. */
  masters(): string[];
  /** SIGKILLs the node at `seed`; its replica is promoted after cluster-node-timeout. */
  kill(seed: string): void;
  stop(): Promise<void>;
}

/** A port whose cluster-bus port (port + 10000) is free as well. */
async function clusterPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await freePort();
    if (port + 10_000 < 65_536 && (await freePort(port + 10_000)) === port + 10_000) return port;
  }
  throw new Error('no free port pair for a cluster node');
}

function cli(args: string[]): string {
  const result = spawnSync('redis-cli', args, { encoding: 'utf8', timeout: 30_000 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return result.stdout;
}

/**
 * Starts `masters × (1 + replicas)` redis-server processes with `--cluster-enabled yes`, joins
 * them with `redis-cli --cluster create`, and waits until every node reports `cluster_state:ok`.
 * Nothing is kept on disk beyond nodes.conf in a temporary folder. Failure policy: a node that
 * does not come up stops every node started so far and throws.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<LocalRedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 1;
  if (spawnSync('redis-server', ['--version']).error) throw new Error('redis-server is not on PATH (Debian: apt-get install redis-server)');
  const dir = options.dir ?? mkdtempSync(path.join(tmpdir(), 'hubhook-redis-cluster-'));
  const children = new Map<string, ChildProcess>();
  const nodes: ClusterNode[] = [];
  const killAll = () => {
    for (const child of children.values()) child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const stop = async () => {
    process.removeListener('exit', killAll);
    await Promise.all(
      [...children.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
    if (!options.dir) rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const port = await clusterPort();
      const child = spawn(
        'redis-server',
        [
          '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no',
          '--loglevel', 'warning', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
          // A failed master is replaced within a couple of seconds (the default is 15 s).
          '--cluster-node-timeout', '2000', '--dir', dir,
          // A replica syncs at once (Redis 7 waits 5 s by default to gather replicas for one transfer).
          '--repl-diskless-sync-delay', '0',
        ],
        { stdio: 'ignore', detached: true },
      );
      children.set(`127.0.0.1:${port}`, child);
      nodes.push({ host: '127.0.0.1', port });
      for (let t = 0; t < 100 && !(await redisAnswers('127.0.0.1', port)); t++) {
        if (child.exitCode !== null) throw new Error(`redis-server on ${port} exited with code ${child.exitCode}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const seeds = nodes.map((n) => `${n.host}:${n.port}`);
    cli(['--cluster', 'create', ...seeds, '--cluster-replicas', String(replicas), '--cluster-yes']);
    for (let t = 0; ; t++) {
      const states = seeds.map((seed) => {
        const [host, port] = seed.split(':') as [string, string];
        return cli(['-h', host, '-p', port, 'cluster', 'info']);
      });
      if (states.every((s) => s.includes('cluster_state:ok'))) break;
      if (t > 200) throw new Error('the cluster did not reach cluster_state:ok');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Every replica has synced with its master: a replica that never did has no data to serve and
    // will not take over (its data age fails the validity check), so a master killed early in a
    // test would never be replaced.
    for (let t = 0; ; t++) {
      const infos = seeds.map((seed) => {
        const [host, port] = seed.split(':') as [string, string];
        return cli(['-h', host, '-p', port, 'info', 'replication']);
      });
      const replicasUp = infos.filter((i) => i.includes('role:slave') && i.includes('master_link_status:up')).length;
      if (replicasUp === masters * replicas) break;
      if (t > 300) throw new Error(`only ${replicasUp} of ${masters * replicas} replicas synced with their masters`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return {
      seeds,
      nodes,
      masters() {
        for (const seed of seeds) {
          if (!children.get(seed) || children.get(seed)!.exitCode !== null || children.get(seed)!.signalCode !== null) continue;
          const [host, port] = seed.split(':') as [string, string];
          const lines = cli(['-h', host, '-p', port, 'cluster', 'nodes']).trim().split('\n');
          return lines
            .map((line) => line.split(' '))
            .filter((f) => f[2]!.includes('master') && !f[2]!.includes('fail') && f.length > 8)
            .map((f) => f[1]!.split('@')[0]!);
        }
        return [];
      },
      kill(seed) {
        children.get(seed)?.kill('SIGKILL');
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

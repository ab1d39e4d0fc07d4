import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import type { LocalRedisCluster } from '../../scripts/lib/redis-cluster.ts';

/** True when `redis-server` is on PATH: the Redis Cluster tests run only then (CI installs it). */
export const hasRedisServer = !spawnSync('redis-server', ['--version']).error;

/** The environment that puts a test context on a local cluster: its seeds, and the shard count. */
export function clusterEnv(cluster: LocalRedisCluster, shards: number): Record<string, string> {
  return { REDIS_CLUSTER_NODES: cluster.seeds.join(','), DELIVERY_SHARDS: String(shards) };
}

/**
 * Keys matching `pattern` on each master of the cluster now, by SCAN on each (a master holds
 * its own slots' keys only). Keyed by `host:port`.
 */
export async function keysPerMaster(cluster: LocalRedisCluster, pattern: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const master of cluster.masters()) {
    const [host, port] = master.split(':') as [string, string];
    const node = new Redis({ host, port: Number(port), lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await node.connect();
      let cursor = '0';
      let n = 0;
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        n += keys.length;
      } while (cursor !== '0');
      counts.set(master, n);
    } finally {
      node.disconnect();
    }
  }
  return counts;
}

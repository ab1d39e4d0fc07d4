/**
 * `npm run redis:cluster`: a local Redis Cluster for development, 3 masters and 3 replicas of
 * `redis-server` on free loopback ports, nothing kept on disk. It prints the REDIS_CLUSTER_NODES
 * value to give the api and the workers, and stops every node on Ctrl-C.
 *
 * Options: --masters N (default 3), --replicas N (default 1).
 */
import { parseArgs } from 'node:util';
import { startRedisCluster } from './lib/redis-cluster.ts';

const { values } = parseArgs({ options: { masters: { type: 'string', default: '3' }, replicas: { type: 'string', default: '1' } } });
const cluster = await startRedisCluster({ masters: Number(values.masters), replicas: Number(values.replicas) });
console.log(`Redis Cluster up: ${cluster.masters().length} masters, ${cluster.seeds.length - cluster.masters().length} replicas`);
console.log(`  masters   ${cluster.masters().join(' ')}`);
console.log(`\nREDIS_CLUSTER_NODES=${cluster.seeds.join(',')}\n\nCtrl-C stops it.`);
const stop = (signal: string) => {
  console.log(`${signal}: stopping the cluster…`);
  void cluster.stop().then(() => process.exit(0));
};
process.once('SIGINT', () => stop('SIGINT'));
process.once('SIGTERM', () => stop('SIGTERM'));

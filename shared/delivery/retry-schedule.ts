import type { RedisConnection } from '../queues/connection.ts';
import { redisKeys } from '../queues/redis-keys.ts';
import { deliveryShards, type DeliveryShards } from '../queues/shards.ts';

/** A message's next attempt: which message (of which subscription), after how many attempts, and when. */
export interface ScheduledRetry {
  messageId: string;
  /** Decides the shard whose schedule holds the retry. */
  subscriptionId: string;
  attemptsMade: number;
  dueAt: number;
}

// Pops up to ARGV[2] members due by ARGV[1] (ms), atomically: two workers never get the same one.
const POP_DUE = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due`;

/**
 * The retries waiting for their time, as one Redis sorted set per delivery shard (under the
 * shard's prefix, so it sits in the slot of the shard's deliver queue): member
 * `<messageId>.<attempts>`, score the due time. About a hundred bytes a retry, where a delayed BullMQ job costs eight
 * hundred; and due retries leave in batches, as one delivery job per batch of work.
 *
 * Failure policy: Redis is not the truth. A retry lost here (Redis emptied, a crash between the
 * pop and the enqueue) is still pending in Postgres with its due time, and the reconciler
 * enqueues it. Adding the same retry twice keeps one member (same message and attempt count).
 */
export class RetrySchedule {
  readonly shards: DeliveryShards;
  private readonly keys: string[];

  /** `shards`: the delivery shards, or a queue prefix (one shard). */
  constructor(
    private readonly redis: RedisConnection,
    shards: DeliveryShards | string,
  ) {
    this.shards = typeof shards === 'string' ? deliveryShards(shards, 1) : shards;
    this.keys = this.shards.prefixes.map((prefix) => redisKeys(prefix).retrySchedule);
  }

  /** Schedules retries, each in its subscription's shard (one ZADD per shard). */
  async add(retries: ScheduledRetry[]): Promise<void> {
    if (retries.length === 0) return;
    const byShard = new Map<number, (string | number)[]>();
    for (const r of retries) {
      const shard = this.shards.of(r.subscriptionId);
      const args = byShard.get(shard) ?? [];
      args.push(r.dueAt, `${r.messageId}.${r.attemptsMade}`);
      byShard.set(shard, args);
    }
    await Promise.all([...byShard].map(([shard, args]) => this.redis.zadd(this.keys[shard]!, ...args)));
  }

  /** Takes up to `limit` retries of one shard due by `now`; each is handed out once. */
  async popDue(now: number, limit: number, shard = 0): Promise<{ messageId: string; attemptsMade: number }[]> {
    const members = (await this.redis.eval(POP_DUE, 1, this.keys[shard]!, now, limit)) as string[];
    return members.map((member) => {
      const dot = member.lastIndexOf('.');
      return { messageId: member.slice(0, dot), attemptsMade: Number(member.slice(dot + 1)) };
    });
  }

  /** How many retries wait, over every shard (for metrics and tests). */
  async size(): Promise<number> {
    const sizes = await Promise.all(this.keys.map((key) => this.redis.zcard(key)));
    return sizes.reduce((a, b) => a + b, 0);
  }
}

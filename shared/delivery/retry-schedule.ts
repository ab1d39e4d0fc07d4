import type { Redis } from 'ioredis';
import { redisKeys } from '../queues/redis-keys.ts';

/** A message's next attempt: which message, after how many attempts, and when. */
export interface ScheduledRetry {
  messageId: string;
  attemptsMade: number;
  dueAt: number;
}

// Pops up to ARGV[2] members due by ARGV[1] (ms), atomically: two workers never get the same one.
const POP_DUE = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due`;

/**
 * The retries waiting for their time, as one Redis sorted set: member `<messageId>.<attempts>`,
 * score the due time. About a hundred bytes a retry, where a delayed BullMQ job costs eight
 * hundred; and due retries leave in batches, as one delivery job per batch of work.
 *
 * Failure policy: Redis is not the truth. A retry lost here (Redis emptied, a crash between the
 * pop and the enqueue) is still pending in Postgres with its due time, and the reconciler
 * enqueues it. Adding the same retry twice keeps one member (same message and attempt count).
 */
export class RetrySchedule {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = redisKeys(prefix).retrySchedule;
  }

  /** Schedules retries. */
  async add(retries: ScheduledRetry[]): Promise<void> {
    if (retries.length === 0) return;
    const args: (string | number)[] = [];
    for (const r of retries) args.push(r.dueAt, `${r.messageId}.${r.attemptsMade}`);
    await this.redis.zadd(this.key, ...args);
  }

  /** Takes up to `limit` retries due by `now`; each is handed out once. */
  async popDue(now: number, limit: number): Promise<{ messageId: string; attemptsMade: number }[]> {
    const members = (await this.redis.eval(POP_DUE, 1, this.key, now, limit)) as string[];
    return members.map((member) => {
      const dot = member.lastIndexOf('.');
      return { messageId: member.slice(0, dot), attemptsMade: Number(member.slice(dot + 1)) };
    });
  }

  /** How many retries wait (for metrics and tests). */
  size(): Promise<number> {
    return this.redis.zcard(this.key);
  }
}

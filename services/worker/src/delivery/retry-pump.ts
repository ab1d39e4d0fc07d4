import { createHash } from 'node:crypto';
import type { Logger } from '#shared/logger';
import type { Queues } from '#shared/queues/connection';
import type { RetrySchedule } from '#shared/delivery/retry-schedule';

/** Options of the RetryPump. */
export interface RetryPumpOptions {
  /** How often to look for due retries; default 200 ms. */
  everyMs?: number;
  /** Messages per delivery job; default 100. */
  batch?: number;
  /** The delivery shards whose retries this pump moves; default all. */
  shards?: readonly number[];
}

/**
 * Moves due retries from the RetrySchedule into delivery jobs, a batch of messages per job, each
 * shard's retries into that shard's deliver queue (a batch is of one shard, so of one slot).
 * Every worker runs one over the shards it serves; the schedule hands each retry to one pump only.
 *
 * Failure policy: if the enqueue fails after the pop, the retries are gone from Redis but still
 * pending in Postgres with their due time; the reconciler enqueues them.
 */
export class RetryPump {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly everyMs: number;
  private readonly batch: number;
  private readonly shards: readonly number[];

  constructor(
    private readonly schedule: RetrySchedule,
    private readonly queues: Queues,
    private readonly logger: Logger,
    options: RetryPumpOptions = {},
  ) {
    this.everyMs = options.everyMs ?? 200;
    this.batch = options.batch ?? 100;
    this.shards = options.shards ?? schedule.shards.prefixes.map((_, i) => i);
  }

  /** Starts pumping. */
  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.pumpOnce()
        .then(() => undefined)
        .catch((err: unknown) => this.logger.warn({ err }, 'retry pump failed; the reconciler covers what it missed'))
        .finally(() => {
          this.running = null;
        });
    }, this.everyMs);
  }

  /** Stops pumping and waits for a round in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One round: everything due now in every shard served, as delivery jobs. */
  async pumpOnce(): Promise<number> {
    const moved = await Promise.all(this.shards.map((shard) => this.pumpShard(shard)));
    return moved.reduce((a, b) => a + b, 0);
  }

  private async pumpShard(shard: number): Promise<number> {
    let moved = 0;
    for (;;) {
      const due = await this.schedule.popDue(Date.now(), this.batch * 10, shard);
      if (due.length === 0) return moved;
      const jobs = [];
      for (let i = 0; i < due.length; i += this.batch) {
        const ids = due.slice(i, i + this.batch).map((d) => d.messageId);
        jobs.push({
          name: 'deliver-messages',
          data: { messageIds: ids },
          opts: { jobId: `retry-${createHash('sha1').update(ids.join(',')).digest('hex')}`, removeOnComplete: true, removeOnFail: true },
        });
      }
      await this.queues.deliver[shard]!.addBulk(jobs);
      moved += due.length;
    }
  }
}

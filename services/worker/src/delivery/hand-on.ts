import type { Db } from '#shared/db/knex';
import type { Logger } from '#shared/logger';
import { entityHeads, type EntityLine } from '#shared/delivery/message-state';
import type { AttemptRecord } from './attempt-record.ts';
import type { DeliveryItem } from './dispatcher.ts';

/** Options of the HandOn: how to take messages and where to send them. */
export interface HandOnOptions {
  /** Claims messages (only what may go now: an entity's head, due, not leased) as dispatcher items. */
  claim: (messageIds: string[]) => Promise<DeliveryItem[]>;
  /** Hands items to the dispatcher. */
  submit: (items: DeliveryItem[]) => Promise<void>;
}

/**
 * Ordered delivery's hand-on: when an ordered message finishes (succeeded or dead) or a fan-out
 * commits events of an entity, the next message of each (entity, subscription) is claimed and
 * sent at once, without waiting for the reconciler. Lines arriving while a round runs are
 * gathered into the next round (one query for many entities).
 *
 * Failure policy: best effort. A failed round is logged; its heads stay waiting in Postgres and
 * the reconciler's `orphanedHeads` finds them after one interval. The claim decides what may
 * go, so a hand-on can never send two messages of one entity at once.
 */
export class HandOn {
  private queued = new Map<string, EntityLine>();
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly options: HandOnOptions,
  ) {}

  /** After an outcome's commit: the lines of the ordered messages that finished. */
  finished(records: AttemptRecord[]): void {
    this.lines(records.filter((r) => r.entityKey).map((r) => ({ entityKey: r.entityKey!, subscriptionId: r.subscriptionId })));
  }

  /** Hands on the heads of these lines (soon, in a batch). */
  lines(lines: EntityLine[]): void {
    if (this.stopped) return;
    for (const line of lines) this.queued.set(`${line.subscriptionId} ${line.entityKey}`, line);
    if (this.queued.size > 0) this.running ??= this.drain();
  }

  /** Stops handing on (the worker stops; what is left waits in Postgres for the reconciler) and waits for a round in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queued.size > 0) {
        const lines = [...this.queued.values()];
        this.queued = new Map();
        try {
          const items = await this.options.claim(await entityHeads(this.db, lines));
          // The dispatcher resolves once the outcomes are written; the next round need not wait.
          if (items.length > 0) void this.options.submit(items);
        } catch (err) {
          this.logger.warn({ err, lines: lines.length }, 'could not hand on to the next message of an entity; the reconciler will');
        }
      }
    } finally {
      this.running = null;
    }
  }
}

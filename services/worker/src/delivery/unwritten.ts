import type { EventLease } from '#shared/delivery/message-state';

interface Outstanding {
  owner: string;
  /** Messages of the event in this process's hands, not yet written. */
  remaining: number;
  /** The event lease's end (ms, by this clock). */
  until: number;
}

/**
 * The events whose first deliveries this process holds and has not yet written, with how many
 * remain each (message-state.ts, "not yet written"). The fan-out adds an event's count; the
 * attempt writer subtracts what it committed, and gives the event's lease up in the same
 * transaction as the last of them (`completedBy`), or right after (`written` says when that is
 * left to do). An event whose lease was lost, or ran out, is forgotten: its messages are the
 * reconciler's then, and a lease that is not ours is never given up.
 */
export class UnwrittenMessages {
  private readonly events = new Map<string, Outstanding>();
  private sweptAt = 0;

  /** The fan-out sends `count` messages of the event, under its lease. Forgets what ran out, at most once a second. */
  add(lease: EventLease, count: number, until: number, now = Date.now()): void {
    if (now - this.sweptAt >= 1_000) this.sweep(now);
    if (count > 0) this.events.set(lease.eventId, { owner: lease.owner, remaining: count, until });
  }

  /** The events whose every unwritten message is among `counts` (event id → messages of it in a batch): their leases may be given up with the batch. */
  completedBy(counts: Map<string, { owner: string; count: number }>): EventLease[] {
    const done: EventLease[] = [];
    for (const [eventId, { owner, count }] of counts) {
      const e = this.events.get(eventId);
      if (e && e.owner === owner && e.remaining <= count) done.push({ eventId, owner });
    }
    return done;
  }

  /**
   * `count` messages of the event were written (committed), or left this process's hands
   * otherwise (handed back as rows). Returns the lease when none remain and it was not given up
   * with them (`finished` false): the caller gives it up.
   */
  written(lease: EventLease, count: number, finished: boolean): EventLease | null {
    const e = this.events.get(lease.eventId);
    if (!e || e.owner !== lease.owner) return null;
    e.remaining -= count;
    if (e.remaining > 0) return null;
    this.events.delete(lease.eventId);
    return finished ? null : lease;
  }

  /** The event's lease was renewed until `until`. */
  renewed(lease: EventLease, until: number): void {
    const e = this.events.get(lease.eventId);
    if (e && e.owner === lease.owner) e.until = Math.max(e.until, until);
  }

  /** The event's lease is not ours any more: forget it (its unwritten messages are someone else's). */
  lost(lease: EventLease): void {
    if (this.events.get(lease.eventId)?.owner === lease.owner) this.events.delete(lease.eventId);
  }

  /** Forgets events whose lease ran out (a dropped outcome, say): the reconciler fans them out again. */
  sweep(now: number): void {
    this.sweptAt = now;
    for (const [eventId, e] of this.events) if (e.until < now) this.events.delete(eventId);
  }

  /** Events held now (for tests and views). */
  get size(): number {
    return this.events.size;
  }
}

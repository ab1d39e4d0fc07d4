/**
 * Every change of a message's state, in one place. A message is
 *
 * - `pending`: an attempt is owed at `next_attempt_at`. While a worker holds it (waiting in its
 *   subscription's lane, or its request in flight) `lease_owner` names the holder and
 *   `next_attempt_at` is the lease's end; only the holder renews it, and nobody else may take the
 *   message before it ends. Without an owner, `next_attempt_at` is simply when it is due.
 * - `held`: its subscription is paused or disabled; released when it is active again.
 * - `succeeded`, `dead` (the last retry failed; kept and replayable), `cancelled` (its
 *   subscription was deleted).
 *
 * Failure policy: each transition is one conditional statement, so two workers racing on a
 * message cannot both win: a claim takes only what is due, a renewal only what its owner holds,
 * an outcome moves only a pending message.
 */
import { columnBindings, type Db, type Knex } from '../db/knex.ts';

/** A new message: pending (leased to `leaseOwner` until `leaseUntil`, or due then) or held. */
export interface NewMessage {
  id: string;
  eventId: string;
  subscriptionId: string;
  status: 'pending' | 'held';
  /** For pending: the lease's end, or when it is due. */
  nextAttemptAt: Date | null;
  leaseOwner: string | null;
  /**
   * The partition key (docs/partitioning.md); default `now`. The fan-out gives its event's
   * received_at, so a message derived again for the same event hits the same unique key.
   */
  createdAt?: Date;
}

/** Inserts messages; one that exists for the same (event, subscription, created_at) is not made twice. Returns the ids made. */
export async function insertMessages(db: Db, messages: NewMessage[], now: Date = new Date()): Promise<string[]> {
  if (messages.length === 0) return [];
  const result = await db.raw(
    `insert into messages (id, event_id, subscription_id, status, next_attempt_at, lease_owner, created_at, updated_at)
     select v.id, v.event_id, v.subscription_id, v.status, v.next_attempt_at, v.lease_owner, coalesce(v.created_at, ?), ?
     from unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::text[], ?::timestamptz[])
       as v(id, event_id, subscription_id, status, next_attempt_at, lease_owner, created_at)
     on conflict (event_id, subscription_id, created_at) do nothing
     returning id`,
    [
      now,
      now,
      ...columnBindings(
        messages.map((m) => m.id),
        messages.map((m) => m.eventId),
        messages.map((m) => m.subscriptionId),
        messages.map((m) => m.status),
        messages.map((m) => m.nextAttemptAt),
        messages.map((m) => m.leaseOwner),
        messages.map((m) => m.createdAt ?? null),
      ),
    ],
  );
  return (result.rows as { id: string }[]).map((r) => r.id);
}

/** A message taken for delivery, with its event: all the delivery needs from Postgres. */
export interface ClaimedMessage {
  id: string;
  attempts: number;
  created_at: Date;
  subscription_id: string;
  event_id: string;
  installation_id: string;
  type: string;
  entity_id: string | null;
  occurred_at: Date;
  data: unknown;
}

/**
 * Takes messages for delivery: of those given, the ones that are pending and due (or whose lease
 * ran out) are leased to `owner` for `leaseMs`, atomically, and come back with their events in
 * the same statement. Two jobs carrying the same message cannot both take it. `now() + 1 s`
 * admits a job that fires a moment early; a live lease is never taken (renewals keep a lease
 * more than that ahead of now).
 */
export async function claimMessages(db: Knex, ids: string[], leaseMs: number, owner: string): Promise<ClaimedMessage[]> {
  if (ids.length === 0) return [];
  const result = await db.raw(
    `with claimed as (
       update messages set next_attempt_at = now() + (? * interval '1 millisecond'), lease_owner = ?
       where id = any(?::text[]) and status = 'pending'
         and (next_attempt_at <= now() or (lease_owner is null and next_attempt_at <= now() + interval '1 second'))
       returning id, attempts, created_at, subscription_id, event_id)
     select c.id, c.attempts, c.created_at, c.subscription_id, c.event_id, e.installation_id, e.type, e.entity_id, e.occurred_at, e.data
     from claimed c join events e on e.id = c.event_id`,
    [leaseMs, owner, ...columnBindings(ids)],
  );
  return result.rows as ClaimedMessage[];
}

/** A lease a worker holds on a message. */
export interface Lease {
  messageId: string;
  owner: string;
}

/**
 * Extends leases their owners still hold by `leaseMs` from now. Returns the ids renewed; a
 * message missing from it is no longer this owner's (delivered meanwhile, cancelled, or, after
 * a lease that lapsed, claimed by another worker) and must not be sent.
 */
export async function renewLeases(db: Db, leases: Lease[], leaseMs: number): Promise<Set<string>> {
  if (leases.length === 0) return new Set();
  const result = await db.raw(
    `update messages m set next_attempt_at = now() + (? * interval '1 millisecond')
     from unnest(?::text[], ?::text[]) as v(id, owner)
     where m.id = v.id and m.lease_owner = v.owner and m.status = 'pending' and m.next_attempt_at > now()
     returning m.id`,
    [leaseMs, ...columnBindings(
      leases.map((l) => l.messageId),
      leases.map((l) => l.owner),
    )],
  );
  return new Set((result.rows as { id: string }[]).map((r) => r.id));
}

/** Gives up leases on messages never started (a stopping worker): due now, owned by nobody. */
export async function releaseLeases(db: Db, leases: Lease[]): Promise<void> {
  if (leases.length === 0) return;
  await db.raw(
    `update messages m set next_attempt_at = now(), lease_owner = null
     from unnest(?::text[], ?::text[]) as v(id, owner)
     where m.id = v.id and m.lease_owner = v.owner and m.status = 'pending'`,
    columnBindings(
      leases.map((l) => l.messageId),
      leases.map((l) => l.owner),
    ),
  );
}

/**
 * Makes messages pending and due now (resend, recover, dead-letter replay, held ones released),
 * whatever their state but cancelled, except a pending message whose lease is live: it is in a
 * worker's lane or in flight already, and a second copy would be in flight twice. Returns them.
 */
export async function reopenMessages(db: Db, where: (q: Knex.QueryBuilder) => void): Promise<{ id: string; attempts: number; subscription_id: string }[]> {
  return db('messages')
    .where(where)
    .whereNot('status', 'cancelled')
    .whereNot((live) => live.where('status', 'pending').whereNotNull('lease_owner').where('next_attempt_at', '>', db.fn.now()))
    .update({ status: 'pending', next_attempt_at: db.fn.now(), lease_owner: null, updated_at: db.fn.now() })
    .returning(['id', 'attempts', 'subscription_id']);
}

/** Cancels messages not yet delivered (pending or held) that `where` selects; returns how many. */
export async function cancelMessages(db: Db, where: (q: Knex.QueryBuilder) => void): Promise<number> {
  return db('messages')
    .where(where)
    .whereIn('status', ['pending', 'held'])
    .update({ status: 'cancelled', next_attempt_at: null, lease_owner: null, updated_at: db.fn.now() });
}

/** The state a delivery outcome moves a message to. */
export interface MessageOutcome {
  messageId: string;
  status: 'succeeded' | 'pending' | 'held' | 'dead';
  /** The attempt's number; null when nothing was tried (held, or deferred by an open circuit). */
  attempt: number | null;
  /** For pending: when the next attempt is due. */
  nextAttemptAt: Date | null;
  attemptedAt: Date;
  statusCode: number | null;
  error: string | null;
}

/**
 * Moves messages on after their outcome: the new status, the attempt count (unchanged when
 * nothing was tried), when the next attempt is due, and the lease given up. Only a pending
 * message moves: one cancelled meanwhile (subscription deleted) stays so.
 */
export async function applyOutcomes(trx: Db, outcomes: MessageOutcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  await trx.raw(
    `update messages m set
       status = v.status,
       attempts = coalesce(v.attempt, m.attempts),
       next_attempt_at = v.next_attempt_at,
       lease_owner = null,
       last_attempt_at = case when v.attempt is null then m.last_attempt_at else v.attempted_at end,
       last_status_code = case when v.attempt is null then m.last_status_code else v.status_code end,
       last_error = case when v.attempt is null then m.last_error else v.error end,
       succeeded_at = case when v.status = 'succeeded' then v.attempted_at else m.succeeded_at end,
       updated_at = now()
     from unnest(?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::timestamptz[], ?::int[], ?::text[])
       as v(id, status, attempt, next_attempt_at, attempted_at, status_code, error)
     where m.id = v.id and m.status = 'pending'`,
    columnBindings(
      outcomes.map((r) => r.messageId),
      outcomes.map((r) => r.status),
      outcomes.map((r) => r.attempt),
      outcomes.map((r) => r.nextAttemptAt),
      outcomes.map((r) => r.attemptedAt),
      outcomes.map((r) => r.statusCode),
      outcomes.map((r) => r.error),
    ),
  );
}

/**
 * Every change of a message's state, in one place. A message is
 *
 * - `pending`: an attempt is owed at `next_attempt_at`. While a worker holds it (waiting in its
 *   subscription's lane, or its request in flight) `lease_owner` names the holder and
 *   `next_attempt_at` is the lease's end; only the holder renews it, and nobody else may take the
 *   message before it ends. Without an owner, `next_attempt_at` is simply when it is due.
 * - `held`: its subscription is paused or disabled; released when it is active again.
 * - Ordered (`entity_key` set: its subscription orders by entity, migration 0011): a pending
 *   message is taken only while nothing earlier of its entity is unfinished (see ENTITY_CLEAR);
 *   one that must wait is pending with no owner and no due time (`next_attempt_at` null) until
 *   the one before it finishes and hands on (shared/delivery/ordering.ts).
 * - `succeeded`, `dead` (the last retry failed; kept and replayable), `cancelled` (its
 *   subscription was deleted).
 * - Not yet written: a first delivery the fan-out sends at once has no row until its first
 *   outcome, which writes the row in its state after that outcome (`insertOutcomes`), a first
 *   attempt that succeeded kept in it (migration 0014: no attempt row), so the common case is
 *   one row written once. Meanwhile its event holds the lease for it
 *   (`event_leases`, migration 0013, listing the subscriptions sent to): renewed by the holder
 *   (`renewEventLeases`), given up once every such message of the event is written
 *   (`finishEventLeases`). A lease that lapses is the reconciler's: the fan-out runs again and
 *   sends the unwritten messages, under the same ids (`messageIdFor`), to the subscriptions the
 *   lease lists.
 *
 * Failure policy: each transition is one conditional statement, so two workers racing on a
 * message cannot both win: a claim takes only what is due, a renewal only what its owner holds,
 * an outcome moves only a pending message.
 */
import { columnBindings, type Db, type Knex } from '../db/knex.ts';
import type { StoredResponse } from './response-body.ts';

/** A new message: pending (leased to `leaseOwner` until `leaseUntil`, or due then) or held. */
export interface NewMessage {
  id: string;
  eventId: string;
  subscriptionId: string;
  status: 'pending' | 'held';
  /** For pending: the lease's end, or when it is due. */
  nextAttemptAt: Date | null;
  leaseOwner: string | null;
  /** Ordered messages: `<installation>/<entityId>` and the event's publication order (shared/delivery/ordering.ts). */
  entityKey?: string | null;
  seq?: string | null;
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
    `insert into messages (id, event_id, subscription_id, status, next_attempt_at, lease_owner, created_at, entity_key, seq, updated_at)
     select v.id, v.event_id, v.subscription_id, v.status, v.next_attempt_at, v.lease_owner, coalesce(v.created_at, ?), v.entity_key, v.seq, ?
     from unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::text[], ?::timestamptz[], ?::text[], ?::bigint[])
       as v(id, event_id, subscription_id, status, next_attempt_at, lease_owner, created_at, entity_key, seq)
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
        messages.map((m) => m.entityKey ?? null),
        messages.map((m) => m.seq ?? null),
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
  /** Set on an ordered message: after its outcome, the next of its entity is handed on. */
  entity_key: string | null;
}

/**
 * SQL, over a message aliased `m`: nothing earlier of its entity is unfinished. True for an
 * unordered message at once; for an ordered one, no earlier pending or held message of the same
 * (entity, subscription) exists, and no earlier event of the entity waits for its fan-out (its
 * messages may not exist yet). Finished is final here (a replay drops the entity key, see
 * reopenMessages), so a statement's snapshot can only err towards waiting, never towards
 * sending two of one entity at once.
 */
const ENTITY_CLEAR = `(m.entity_key is null or (
    not exists (select 1 from messages p
                where p.entity_key = m.entity_key and p.subscription_id = m.subscription_id and p.seq < m.seq
                  and p.entity_key is not null and p.status in ('pending', 'held'))
    and not exists (select 1 from events f
                    where f.installation_id || '/' || f.entity_id = m.entity_key and f.seq < m.seq
                      and f.fanout_at is null and f.entity_id is not null)))`;

/**
 * Takes messages for delivery: of those given, the ones that are pending and due (or whose lease
 * ran out) are leased to `owner` for `leaseMs`, atomically, and come back with their events in
 * the same statement. Two jobs carrying the same message cannot both take it. `now() + 1 s`
 * admits a job that fires a moment early; a live lease is never taken (renewals keep a lease
 * more than that ahead of now). An ordered message is taken only when nothing earlier of its
 * entity is unfinished; otherwise it is set waiting (no owner, no due time) in the same
 * statement, and the one before it hands on when it finishes.
 */
export async function claimMessages(db: Knex, ids: string[], leaseMs: number, owner: string): Promise<ClaimedMessage[]> {
  if (ids.length === 0) return [];
  const result = await db.raw(
    `with moved as (
       update messages m set
         next_attempt_at = case when ${ENTITY_CLEAR} then now() + (? * interval '1 millisecond') end,
         lease_owner = case when ${ENTITY_CLEAR} then ? end
       where m.id = any(?::text[]) and m.status = 'pending'
         and (m.next_attempt_at <= now() or (m.lease_owner is null and (m.next_attempt_at is null or m.next_attempt_at <= now() + interval '1 second')))
       returning m.id, m.attempts, m.created_at, m.subscription_id, m.event_id, m.entity_key, m.lease_owner)
     select c.id, c.attempts, c.created_at, c.subscription_id, c.event_id, c.entity_key,
            e.installation_id, e.type, e.entity_id, e.occurred_at, e.data
     from moved c join events e on e.id = c.event_id
     where c.lease_owner is not null`,
    [leaseMs, owner, ...columnBindings(ids)],
  );
  return result.rows as ClaimedMessage[];
}

/** An (entity, subscription) whose next message may be due: one finished, or an event of the entity was fanned out. */
export interface EntityLine {
  entityKey: string;
  subscriptionId: string;
}

/**
 * The first unfinished message of each line, when it is pending (a held head waits for its
 * subscription). Whether it may go now (due, not leased, nothing earlier unfanned) is the
 * claim's to decide.
 */
export async function entityHeads(db: Db, lines: EntityLine[]): Promise<string[]> {
  if (lines.length === 0) return [];
  const result = await db.raw(
    `select h.id
     from (select distinct * from unnest(?::text[], ?::text[]) as k(entity_key, subscription_id)) k
     cross join lateral (
       select o.id, o.status from messages o
       where o.entity_key = k.entity_key and o.subscription_id = k.subscription_id
         and o.entity_key is not null and o.status in ('pending', 'held')
       order by o.seq limit 1) h
     where h.status = 'pending'`,
    columnBindings(
      lines.map((l) => l.entityKey),
      lines.map((l) => l.subscriptionId),
    ),
  );
  return (result.rows as { id: string }[]).map((r) => r.id);
}

/**
 * Heads that nobody handed on (a worker died between an outcome's commit and the hand-on, or
 * the fan-out's): the first unfinished message of an (entity, subscription), waiting, with
 * nothing earlier unfanned. One walk over the open ordered messages (their index, in order);
 * the check runs on each line's first only. At most `limit`.
 */
export async function orphanedHeads(db: Db, limit: number): Promise<{ id: string; attempts: number; subscriptionId: string }[]> {
  const result = await db.raw(
    `select m.id, m.attempts, m.subscription_id as "subscriptionId" from (
       select distinct on (o.entity_key, o.subscription_id) o.id, o.attempts, o.status, o.next_attempt_at, o.entity_key, o.subscription_id, o.seq
       from messages o
       where o.entity_key is not null and o.status in ('pending', 'held')
       order by o.entity_key, o.subscription_id, o.seq) m
     where m.status = 'pending' and m.next_attempt_at is null and ${ENTITY_CLEAR}
     limit ?`,
    [limit],
  );
  return result.rows as { id: string; attempts: number; subscriptionId: string }[];
}

/**
 * Turns ordering off for a subscription's unfinished messages (its ordering became `none`):
 * they lose their entity key, and those waiting become due now. Returns the ones that waited.
 */
export async function dropOrdering(db: Db, subscriptionId: string): Promise<{ id: string; attempts: number; subscriptionId: string }[]> {
  const result = await db.raw(
    `update messages m set entity_key = null, seq = null,
       next_attempt_at = case when m.status = 'pending' and m.next_attempt_at is null then now() else m.next_attempt_at end,
       updated_at = now()
     where m.subscription_id = ? and m.entity_key is not null and m.status in ('pending', 'held')
     returning m.id, m.attempts, (m.status = 'pending' and m.lease_owner is null and m.next_attempt_at <= now()) as released`,
    [subscriptionId],
  );
  return (result.rows as { id: string; attempts: number; released: boolean }[]).filter((r) => r.released).map(({ id, attempts }) => ({ id, attempts, subscriptionId }));
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
 * worker's lane or in flight already, and a second copy would be in flight twice. A finished
 * message (succeeded, dead) reopened leaves its entity's order; a held or pending one keeps its
 * place (a waiting one is set waiting again by its claim). Returns them.
 */
export async function reopenMessages(db: Db, where: (q: Knex.QueryBuilder) => void): Promise<{ id: string; attempts: number; subscription_id: string }[]> {
  return db('messages')
    .where(where)
    .whereNot('status', 'cancelled')
    .whereNot((live) => live.where('status', 'pending').whereNotNull('lease_owner').where('next_attempt_at', '>', db.fn.now()))
    // A finished message sent again (resend, replay) goes as it comes, outside its entity's
    // order; an unfinished one (held, or pending: waiting or retrying) keeps its place in it.
    .update({
      status: 'pending',
      next_attempt_at: db.fn.now(),
      lease_owner: null,
      updated_at: db.fn.now(),
      entity_key: db.raw("case when status in ('held', 'pending') then entity_key end"),
    })
    .returning(['id', 'attempts', 'subscription_id']);
}

/** The lease of an event's first deliveries, not yet written, held by a fan-out's `owner`. */
export interface EventLease {
  eventId: string;
  owner: string;
}

/** An event's lease lapsed while first deliveries of it were unwritten: the subscriptions it was sent to. */
export interface LapsedLease {
  eventId: string;
  subscriptionIds: string[];
}

/**
 * Takes events for fan-out, in one statement (inside the fan-out's transaction when that writes
 * messages too), before any of their messages is made:
 * those not fanned out yet, and those whose unwritten first deliveries' lease lapsed (the
 * worker holding them died). Each is marked fanned out (its row lock decides: an event another
 * fan-out took meanwhile makes this one wait, then see it taken, so two fan-outs never send the
 * same event's messages at once). One whose fan-out sends messages not yet written gets a lease
 * for `owner` for `leaseMs`, listing the subscriptions they go to; a lapsed lease is replaced or
 * dropped. Returns the ids taken.
 */
export async function takeForFanout(
  db: Db,
  events: { id: string; subscriptionIds: string[]; /** Fanned out before, under a lease that lapsed. */ lapsed: boolean }[],
  owner: string,
  leaseMs: number,
  now: Date,
): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const leased = events.filter((e) => e.subscriptionIds.length > 0);
  // A first fan-out has no lease to drop: only a lapsed one that sends nothing more goes.
  const unleased = events.filter((e) => e.lapsed && e.subscriptionIds.length === 0);
  // One statement (at low rates every round trip to Postgres is a wake-up of both processes):
  // the update takes the rows and locks them; the lease rows are written only for the events it
  // took, as the statement's other parts see its result.
  const result = await db.raw(
    `with taken as (
       update events e set fanout_at = coalesce(e.fanout_at, ?)
       where e.id = any(?::text[])
         and (e.fanout_at is null or exists (select 1 from event_leases l where l.event_id = e.id and l.until < now()))
       returning e.id
     ), leased as (
       insert into event_leases (event_id, owner, until, subscription_ids)
       select v.id, ?, now() + (? * interval '1 millisecond'), string_to_array(v.subs, ',')
       from unnest(?::text[], ?::text[]) as v(id, subs)
       where v.id in (select id from taken)
       on conflict (event_id) do update set owner = excluded.owner, until = excluded.until, subscription_ids = excluded.subscription_ids
     ), unleased as (
       delete from event_leases l
       where l.event_id = any(?::text[]) and l.event_id in (select id from taken)
     )
     select id from taken`,
    [
      now,
      ...columnBindings(events.map((e) => e.id)),
      owner,
      leaseMs,
      ...columnBindings(
        leased.map((e) => e.id),
        leased.map((e) => e.subscriptionIds.join(',')),
        unleased.map((e) => e.id),
      ),
    ],
  );
  return new Set((result.rows as { id: string }[]).map((r) => r.id));
}

/** The lapsed leases of `eventIds`: the subscriptions each was sent to before its worker died. */
export async function lapsedLeases(db: Db, eventIds: string[]): Promise<LapsedLease[]> {
  if (eventIds.length === 0) return [];
  const rows = (await db('event_leases').whereIn('event_id', eventIds).where('until', '<', db.fn.now()).select('event_id', 'subscription_ids')) as {
    event_id: string;
    subscription_ids: string[];
  }[];
  return rows.map((r) => ({ eventId: r.event_id, subscriptionIds: r.subscription_ids }));
}

/** The (event, subscription) pairs of `eventIds` that have a message row, as `event/subscription`. */
export async function writtenMessages(db: Db, eventIds: string[]): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const rows = (await db('messages').whereIn('event_id', eventIds).select('event_id', 'subscription_id')) as { event_id: string; subscription_id: string }[];
  return new Set(rows.map((r) => `${r.event_id}/${r.subscription_id}`));
}

/** Extends event leases their owners still hold by `leaseMs` from now; returns the event ids renewed (the others are no longer theirs). */
export async function renewEventLeases(db: Db, leases: EventLease[], leaseMs: number): Promise<Set<string>> {
  if (leases.length === 0) return new Set();
  const result = await db.raw(
    `update event_leases l set until = now() + (? * interval '1 millisecond')
     from unnest(?::text[], ?::text[]) as v(id, owner)
     where l.event_id = v.id and l.owner = v.owner and l.until > now()
     returning l.event_id`,
    [leaseMs, ...columnBindings(
      leases.map((l) => l.eventId),
      leases.map((l) => l.owner),
    )],
  );
  return new Set((result.rows as { event_id: string }[]).map((r) => r.event_id));
}

/** Gives up event leases once every unwritten message of each is written (only the owner's own). */
export async function finishEventLeases(db: Db, leases: EventLease[]): Promise<void> {
  if (leases.length === 0) return;
  await db.raw(
    `delete from event_leases l
     using unnest(?::text[], ?::text[]) as v(id, owner)
     where l.event_id = v.id and l.owner = v.owner`,
    columnBindings(
      leases.map((l) => l.eventId),
      leases.map((l) => l.owner),
    ),
  );
}

/** A message not yet written, with its first outcome: its row is made in the state after it. */
export interface OutcomeOfUnwritten extends MessageOutcome {
  subscriptionId: string;
  durationMs: number;
  /** Its event, and the partition key: the event's received_at, as the fan-out gives every message of the event. */
  unwritten: { eventId: string; createdAt: Date };
}

/**
 * Writes messages not yet written, each in its state after its first outcome (one row, written
 * once). `firstSuccesses[i]`, when given, is outcome i's response: its first attempt succeeded
 * and lives in the row (migration 0014: the `first_*` columns, an id from the attempts'
 * sequence; no attempt row). Returns the ids written; one whose row exists already (its event's
 * lease lapsed and another worker wrote it) is left to `applyOutcomes`, as any message with a
 * row, and its attempt to the attempts table.
 */
export async function insertOutcomes(trx: Db, outcomes: OutcomeOfUnwritten[], firstSuccesses: ReadonlyArray<StoredResponse | null> = []): Promise<Set<string>> {
  if (outcomes.length === 0) return new Set();
  const first = (i: number) => firstSuccesses[i] ?? null;
  const result = await trx.raw(
    `insert into messages (id, event_id, subscription_id, status, attempts, next_attempt_at, last_attempt_at, last_status_code, last_error,
       succeeded_at, created_at, updated_at, first_attempt_id, first_attempted_at, first_duration_ms, first_status_code,
       first_response_body, first_response_body_bytes, first_response_body_truncated, first_response_status_text, first_response_headers)
     select v.id, v.event_id, v.subscription_id,
       -- One still owed (retry due, held) whose subscription was deleted while it was in flight: cancelled, as the deletion cancelled the rest.
       case when v.status in ('pending', 'held') and exists (select 1 from subscriptions s where s.id = v.subscription_id and s.deleted_at is not null)
            then 'cancelled' else v.status end,
       coalesce(v.attempt, 0),
       case when v.status in ('pending', 'held') and exists (select 1 from subscriptions s where s.id = v.subscription_id and s.deleted_at is not null)
            then null else v.next_attempt_at end,
       case when v.attempt is null then null else v.attempted_at end, v.status_code, v.error,
       case when v.status = 'succeeded' then v.attempted_at end, v.created_at, now(),
       case when v.kept then nextval('attempts_id_seq') end,
       case when v.kept then v.attempted_at end,
       case when v.kept then v.duration_ms end,
       case when v.kept then v.status_code end,
       v.body, v.body_bytes, v.body_truncated, v.status_text, v.headers
     from unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::timestamptz[], ?::int[], ?::text[], ?::timestamptz[],
       ?::boolean[], ?::int[], ?::text[], ?::bytea[], ?::boolean[], ?::text[], ?::jsonb[])
       as v(id, event_id, subscription_id, status, attempt, next_attempt_at, attempted_at, status_code, error, created_at,
         kept, duration_ms, body, body_bytes, body_truncated, status_text, headers)
     on conflict (event_id, subscription_id, created_at) do nothing
     returning id`,
    columnBindings(
      outcomes.map((o) => o.messageId),
      outcomes.map((o) => o.unwritten.eventId),
      outcomes.map((o) => o.subscriptionId),
      outcomes.map((o) => o.status),
      outcomes.map((o) => o.attempt),
      outcomes.map((o) => o.nextAttemptAt),
      outcomes.map((o) => o.attemptedAt),
      outcomes.map((o) => o.statusCode),
      outcomes.map((o) => o.error),
      outcomes.map((o) => o.unwritten.createdAt),
      outcomes.map((_o, i) => first(i) !== null),
      outcomes.map((o, i) => (first(i) === null ? null : Math.round(o.durationMs))),
      outcomes.map((_o, i) => first(i)?.responseBody ?? null),
      outcomes.map((_o, i) => first(i)?.responseBodyBytes ?? null),
      outcomes.map((_o, i) => first(i)?.responseBodyTruncated ?? null),
      outcomes.map((_o, i) => first(i)?.responseStatusText ?? null),
      outcomes.map((_o, i) => first(i)?.responseHeaders ?? null),
    ),
  );
  return new Set((result.rows as { id: string }[]).map((r) => r.id));
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
  /**
   * For an outcome with no attempt (held, deferred, written back): the lease the message was
   * held under. It moves the message only while the row still names that lease: once it lapsed
   * and another worker claimed the message, that worker's lease stands (nothing was sent here,
   * so nothing here is owed a record).
   */
  leaseOwner?: string | null;
}

/**
 * Moves messages on after their outcome: the new status, the attempt count (unchanged when
 * nothing was tried), when the next attempt is due, and the lease given up. Only a pending
 * message moves: one cancelled meanwhile (subscription deleted) stays so, and so does one an
 * untried outcome's lease no longer holds (`leaseOwner`).
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
     from unnest(?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::timestamptz[], ?::int[], ?::text[], ?::text[])
       as v(id, status, attempt, next_attempt_at, attempted_at, status_code, error, lease_owner)
     where m.id = v.id and m.status = 'pending'
       and (v.attempt is not null or v.lease_owner is null or m.lease_owner is not distinct from v.lease_owner)`,
    columnBindings(
      outcomes.map((r) => r.messageId),
      outcomes.map((r) => r.status),
      outcomes.map((r) => r.attempt),
      outcomes.map((r) => r.nextAttemptAt),
      outcomes.map((r) => r.attemptedAt),
      outcomes.map((r) => r.statusCode),
      outcomes.map((r) => r.error),
      outcomes.map((r) => (r.attempt === null ? (r.leaseOwner ?? null) : null)),
    ),
  );
}

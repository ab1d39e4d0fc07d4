import type { PostResponse } from '#shared/http/transport';

/** What a receiver answered, as the attempt log keeps it (the transport's answer minus its status). */
export type RecordedResponse = Pick<PostResponse, 'statusText' | 'headers' | 'body' | 'bytesRead'>;

/** A message with no row yet (message-state.ts, "not yet written"): its event, its partition key, and the event lease's owner. */
export interface Unwritten {
  eventId: string;
  /** Its event's received_at (the partition key every message of the event has). */
  createdAt: Date;
  owner: string;
}

/** What happened to one message, to be written: an attempt (or none, for a hold) and the message's new state. */
export interface AttemptRecord {
  messageId: string;
  subscriptionId: string;
  /** Set on a first delivery whose message has no row yet: the row is written with this outcome, under its event's lease. */
  unwritten?: Unwritten | undefined;
  /** Set on a message delivered in entity order (its outcome may hand on to the entity's next). */
  entityKey?: string | null | undefined;
  /** The attempt's number (1 = first try); null when nothing was tried (held, or deferred by an open circuit). */
  attempt: number | null;
  /** For a record with no attempt: the attempts made before, so a deferral is scheduled as the same retry. */
  attemptsMade?: number;
  /** For a record with no attempt: the lease the message was held under; the record moves a row only while it still names that lease (`applyOutcomes`). */
  leaseOwner?: string;
  attemptedAt: Date;
  durationMs: number;
  outcome: 'success' | 'failure';
  statusCode: number | null;
  /** timeout, dns, refused, reset, protocol, redirect, ..., circuit_open (not tried: deferred while the receiver's circuit is open). */
  error: string | null;
  /** One sentence saying what went wrong; null on success. */
  errorMessage: string | null;
  /** The receiver's answer (null when none came); any bytes, any headers: the writer makes them storable. */
  response: RecordedResponse | null;
  /** The message's state after this attempt (`pending` with no attempt: deferred, the attempt count unchanged). */
  status: 'succeeded' | 'pending' | 'held' | 'dead';
  /** For `pending`: when the next attempt is due. */
  nextAttemptAt: Date | null;
  /** True when a network attempt was made (false for circuit-open skips and holds); counts for health. */
  reachedReceiver: boolean;
  /** Disable the subscription at once with this reason (410 Gone). */
  disableReason?: string;
}

/** Whether the writer can commit, for the worker's health and its metrics. */
export interface AttemptWriterHealth {
  /** False while Postgres refuses every write (down, unreachable, out of connections). */
  committing: boolean;
  /** Since when writes fail; null while committing. */
  failingSince: Date | null;
  /** The last write error while failing. */
  lastError: string | null;
  /** Records waiting to be written. */
  buffered: number;
  /** Their size, about as held in memory. */
  bufferedBytes: number;
}

/** What happened to one message, to be written: an attempt (or none, for a hold) and the message's new state. */
export interface AttemptRecord {
  messageId: string;
  subscriptionId: string;
  /** The attempt's number (1 = first try); null when nothing was tried (the message is held). */
  attempt: number | null;
  attemptedAt: Date;
  durationMs: number;
  outcome: 'success' | 'failure';
  statusCode: number | null;
  /** timeout, dns, refused, ..., circuit_open (not tried: the receiver's circuit is open). */
  error: string | null;
  responseBody: string | null;
  /** The message's state after this attempt. */
  status: 'succeeded' | 'pending' | 'held' | 'dead';
  /** For `pending`: when the next attempt is due. */
  nextAttemptAt: Date | null;
  /** True when a network attempt was made (false for circuit-open skips and holds); counts for health. */
  reachedReceiver: boolean;
  /** Disable the subscription at once with this reason (410 Gone). */
  disableReason?: string;
}

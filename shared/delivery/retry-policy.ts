/**
 * When to try a message again. The schedule lists delays counted from the FIRST try (docs/architecture.md:
 * "5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the first try"), each spread by jitter so a
 * receiver that failed for many messages at once is not hit by all of them again at once.
 */

/** Options for a RetryPolicy. */
export interface RetryPolicyOptions {
  /** Delays in ms; entry i is the wait after attempt i+1 failed. Its length is the number of retries. */
  scheduleMs: number[];
  /** Fraction of each delay added or removed at random; default 0.2 (±20 %). */
  jitter?: number;
  /** Longest Retry-After (seconds or HTTP date) we honour; default 1 h. */
  maxRetryAfterMs?: number;
  /** Random source in [0, 1); tests fix it. */
  random?: () => number;
}

export interface RetryPolicy {
  /** Attempts in all: the first try plus one per scheduled retry. */
  readonly maxAttempts: number;
  /**
   * The delay before the next attempt after `attemptsMade` failed tries, or null when none is
   * left (the message is dead). `retryAfterMs` (from a 429/503) replaces the scheduled delay
   * when it is longer, within the cap.
   */
  nextDelayMs(attemptsMade: number, retryAfterMs?: number | null): number | null;
}

/** Builds the retry policy from the configured schedule. */
export function createRetryPolicy(options: RetryPolicyOptions): RetryPolicy {
  const { scheduleMs, jitter = 0.2, maxRetryAfterMs = 3_600_000, random = Math.random } = options;
  return {
    maxAttempts: scheduleMs.length + 1,
    nextDelayMs(attemptsMade, retryAfterMs) {
      const base = scheduleMs[attemptsMade - 1];
      if (base === undefined) return null;
      const spread = base * jitter * (random() * 2 - 1);
      const scheduled = Math.max(0, Math.round(base + spread));
      if (retryAfterMs == null) return scheduled;
      return Math.max(scheduled, Math.min(retryAfterMs, maxRetryAfterMs));
    },
  };
}

/** Parses a Retry-After header (delta seconds or an HTTP date) into ms from `now`; null if absent or bad. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1_000;
  // An HTTP-date always names the day and month; without letters Date.parse reads '-5' as a year.
  if (!/[a-z]/i.test(trimmed)) return null;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** How long `eventually` polls, how often, and what it waits for (named in its error). */
export interface EventuallyOptions {
  what?: string;
  /** Default 15 s: generous, for a loaded machine. */
  timeoutMs?: number;
  /** Default 50 ms. */
  everyMs?: number;
}

/**
 * Polls `probe` until it returns something other than undefined, null or false, and returns
 * that. A probe that throws is tried again (a row not there yet, a server still starting); after
 * `timeoutMs` it fails naming `what` and the last error. The one polling helper of the tests.
 */
export async function eventually<T>(
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  options: EventuallyOptions | string = {},
): Promise<T> {
  const { what = 'a condition', timeoutMs = 15_000, everyMs = 50 } = typeof options === 'string' ? { what: options } : options;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

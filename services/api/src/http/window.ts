import { z } from 'zod';
import { parseDuration } from '#shared/duration';

/** `?window=`: a look-back such as 1h or 7d (1 s to 90 d), default 24h, for health and stats. */
export const WindowDuration = z
  .string()
  .default('24h')
  .refine((value) => {
    try {
      const ms = parseDuration(value);
      return ms > 0 && ms <= 90 * 86_400_000;
    } catch {
      return false;
    }
  }, 'a duration from 1s to 90d, such as 1h or 7d');

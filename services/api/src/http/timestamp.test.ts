import { describe, expect, it } from 'vitest';
import { Timestamp } from './timestamp.ts';

describe('Timestamp', () => {
  it('takes 1970 to 9999 with Z or an offset, and refuses the rest with one clear message', () => {
    for (const ok of ['1970-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z', '2026-01-05T12:00:00+01:00', '2024-02-29T00:00:00.123456Z']) {
      expect(Timestamp.safeParse(ok).success, ok).toBe(true);
    }
    for (const bad of ['0000-01-01T00:00:00Z', '1969-12-31T23:59:59Z', '1970-01-01T00:30:00+01:00', '9999-12-31T23:59:59-01:00']) {
      expect(Timestamp.safeParse(bad).error?.issues.map((i) => i.message), bad).toEqual(['must be from 1970-01-01 to 9999-12-31']);
    }
    for (const bad of ['yesterday', '2026-02-30T00:00:00Z', '2026-01-05T12:00:00', '10000-01-01T00:00:00Z']) {
      expect(Timestamp.safeParse(bad).error?.issues, bad).toHaveLength(1);
    }
  });
});

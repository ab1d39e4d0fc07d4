const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses a duration such as `500ms`, `5s`, `30m`, `2h` or `5d` into milliseconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(text);
  if (!match) throw new Error(`"${text}" is not a duration such as 5s, 30m, 2h or 5d`);
  return Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
}

/** Parses a comma-separated retry schedule (`5s,5m,30m`) into delays in milliseconds. */
export function parseSchedule(text: string): number[] {
  const delays = text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map(parseDuration);
  if (delays.length === 0) throw new Error('must list at least one delay');
  if (delays.length > 50) throw new Error('lists more than 50 retries');
  return delays;
}

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

/** Writes milliseconds in the largest whole unit, as people read a schedule: `5 s`, `30 min`, `2 h`, `5 d`. */
export function formatDuration(ms: number): string {
  const units: [number, string][] = [
    [UNIT_MS.d, 'd'],
    [UNIT_MS.h, 'h'],
    [UNIT_MS.m, 'min'],
    [UNIT_MS.s, 's'],
  ];
  for (const [size, name] of units) if (ms >= size && ms % size === 0) return `${ms / size} ${name}`;
  return `${ms} ms`;
}

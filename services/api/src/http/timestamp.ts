import { z } from 'zod';

/** The earliest and the latest instant any timestamp input may name (both included). */
export const EARLIEST_TIMESTAMP = '1970-01-01T00:00:00.000Z';
export const LATEST_TIMESTAMP = '9999-12-31T23:59:59.999Z';

const earliest = Date.parse(EARLIEST_TIMESTAMP);
const latest = Date.parse(LATEST_TIMESTAMP);

/**
 * Every timestamp the API accepts, in bodies and query strings alike: ISO 8601 with `Z` or an
 * offset, naming an instant from 1970 to 9999. Postgres would take year 0000 or 200000 and
 * answer with an error (or a year nobody meant), so the range is the schema's to refuse.
 * The string is passed on as given; Postgres reads it as a timestamptz.
 */
export const Timestamp = z.iso
  .datetime({ offset: true, abort: true, message: 'must be an ISO 8601 date-time with Z or an offset, e.g. 2026-01-05T12:00:00Z' })
  .refine((value) => {
    const instant = Date.parse(value);
    return instant >= earliest && instant <= latest;
  }, { message: `must be from ${EARLIEST_TIMESTAMP.slice(0, 10)} to ${LATEST_TIMESTAMP.slice(0, 10)}`, params: { code: 'out_of_range' } });

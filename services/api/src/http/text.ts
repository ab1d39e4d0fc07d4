import { z } from 'zod';

/**
 * A string Postgres can take: text and jsonb refuse the NUL character (SQLSTATE 22021/22P05),
 * which would turn bad input into a 500. Use it for every string that reaches a query.
 */
export const PgText = () => z.string().refine((value) => !value.includes('\u0000'), { message: 'must not contain NUL characters' });

/** True when a path segment could reach a query safely (no NUL); otherwise treat it as unknown. */
export const isQueryableText = (value: string, maxLength = 200) => value.length <= maxLength && !value.includes('\u0000');

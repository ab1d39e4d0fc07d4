/**
 * A receiver's answer is bytes, and anything it sends must fit the attempt log. Postgres `text`
 * cannot hold NUL and JSON has no bytes, so the log keeps two things per body:
 * - a text preview: the bytes decoded as UTF-8, with each invalid sequence and each NUL shown
 *   as U+FFFD; always safe for a text column, for JSON and for a terminal;
 * - the exact bytes, in a `bytea` column, only when the preview is not exactly them (most
 *   bodies are plain UTF-8: for those the preview *is* the bytes, and nothing is stored twice).
 * Status text, header names and values and error sentences go through `storableText`.
 */

/** Shown for a NUL (and by the decoder for each invalid UTF-8 sequence). */
const REPLACEMENT = '\uFFFD';

/** How the log holds one kept response body. */
export interface StoredBody {
  /** The preview (NUL-safe UTF-8 text). */
  text: string;
  /** The exact bytes when `text` is not exactly them; null when it is. */
  bytes: Buffer | null;
}

/**
 * A receiver's answer made storable: the columns an attempt keeps of it (an attempt row, or a
 * first success kept in its message's row). `responseHeaders` is the JSON of `storableHeaders`.
 */
export interface StoredResponse {
  responseBody: string | null;
  responseBodyBytes: Buffer | null;
  responseBodyTruncated: boolean;
  responseStatusText: string | null;
  responseHeaders: string | null;
}

/** Splits kept body bytes into the preview and, when the preview is lossy, the exact bytes. */
export function storeBody(body: Buffer): StoredBody {
  const decoded = body.toString('utf8');
  const text = decoded.includes('\u0000') ? decoded.replaceAll('\u0000', REPLACEMENT) : decoded;
  // A lossy decode (or a NUL replaced) no longer encodes back to the same bytes.
  const exact = text === decoded && Buffer.byteLength(text, 'utf8') === body.length && Buffer.from(text, 'utf8').equals(body);
  return { text, bytes: exact ? null : Buffer.from(body) };
}

/** How the delivery log shows a stored body: the preview, the exact bytes in base64, and which one is exact. */
export interface ShownBody {
  responseBody: string | null;
  /** The exact kept bytes, base64; null when there is no body. */
  responseBodyBase64: string | null;
  /** `utf8`: `responseBody` is exactly the bytes; `binary`: it is a lossy preview, read the base64. */
  responseBodyEncoding: 'utf8' | 'binary' | null;
}

/** The log's view of a body stored by `storeBody` (a row from before bytes were kept has text only). */
export function showBody(text: string | null, bytes: Buffer | null): ShownBody {
  if (bytes !== null) return { responseBody: text ?? storeBody(bytes).text, responseBodyBase64: bytes.toString('base64'), responseBodyEncoding: 'binary' };
  if (text === null) return { responseBody: null, responseBodyBase64: null, responseBodyEncoding: null };
  return { responseBody: text, responseBodyBase64: Buffer.from(text, 'utf8').toString('base64'), responseBodyEncoding: 'utf8' };
}

/**
 * Text from a receiver (status text, a header, an error sentence naming what it sent) made
 * safe for a text or jsonb column: NUL shown as U+FFFD, cut to `maxChars` with an ellipsis.
 */
export function storableText(value: string, maxChars = 1_024): string {
  const safe = value.includes('\u0000') ? value.replaceAll('\u0000', REPLACEMENT) : value;
  return safe.length > maxChars ? `${safe.slice(0, maxChars - 1)}…` : safe;
}

/** Most header bytes (names and values) kept per attempt; the rest are counted, not kept. */
export const MAX_STORED_HEADER_CHARS = 2_048;

/** Response headers as the log keeps them: in order, NUL-safe, at most MAX_STORED_HEADER_CHARS; `omitted` counts the rest. */
export function storableHeaders(headers: Record<string, string>): { headers: Record<string, string>; omitted: number } {
  // No prototype: a header named __proto__ is kept as a header like any other.
  const kept = Object.create(null) as Record<string, string>;
  let used = 0;
  let omitted = 0;
  for (const [name, value] of Object.entries(headers)) {
    const n = storableText(name, 256);
    const v = storableText(value, 512);
    if (used + n.length + v.length > MAX_STORED_HEADER_CHARS) {
      omitted++;
      continue;
    }
    used += n.length + v.length;
    kept[n] = v;
  }
  return { headers: kept, omitted };
}

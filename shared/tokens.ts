import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { randomText } from './ids.ts';

/**
 * Bearer secrets (partner API keys, product access keys, session tokens). A token reads
 * `<prefix>_<lookup id>_<secret>`: the prefix makes a leaked one recognisable to secret
 * scanners, the lookup id finds the row, and only a SHA-256 of the secret is stored.
 * The secrets are 256 random bits, so a slow password hash would add nothing.
 */
export interface MintedToken {
  /** The row id: `<idPrefix>_<lookup>`. */
  id: string;
  /** The whole token, shown to its owner once. */
  token: string;
  /** What to store. */
  hash: string;
}

/** SHA-256 of a token's secret part, hex. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Makes a new token `<tokenPrefix>_<lookup>_<secret>` whose row id is `<idPrefix>_<lookup>`. */
export function mintToken(tokenPrefix: string, idPrefix: string): MintedToken {
  const lookup = randomText(20);
  const secret = randomBytes(32).toString('base64url');
  return { id: `${idPrefix}_${lookup}`, token: `${tokenPrefix}_${lookup}_${secret}`, hash: hashSecret(secret) };
}

/** Splits a token made by `mintToken`; null when it is not of that form. */
export function parseToken(tokenPrefix: string, idPrefix: string, token: string): { id: string; secret: string } | null {
  const match = new RegExp(`^${tokenPrefix}_([0-9a-z]{20})_([A-Za-z0-9_-]{43})$`).exec(token);
  return match ? { id: `${idPrefix}_${match[1]}`, secret: match[2]! } : null;
}

/** Constant-time comparison of two strings of any length. */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

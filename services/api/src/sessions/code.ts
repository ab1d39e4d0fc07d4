import { createHmac, hkdfSync, randomInt } from 'node:crypto';
import type { Config } from '#shared/config';

/**
 * One-time sign-in codes: 8 random digits. Codes are low-entropy, so a plain hash would fall to
 * a table of all 10^8 values; they are stored as HMAC-SHA256 under a server key instead, bound
 * to the address (the same code for two addresses hashes differently). The key is derived from
 * SECRETS_KEY (or, where that is unset, the operator token): a database dump alone cannot
 * recover a live code.
 */
export const CODE_DIGITS = 8;

/** Tries a code allows; the next one is refused even if right. */
export const MAX_CODE_TRIES = 5;

/** A new random code, zero-padded. */
export function newSignInCode(): string {
  return String(randomInt(0, 10 ** CODE_DIGITS)).padStart(CODE_DIGITS, '0');
}

/** Hashes (address, code) under a key derived from the configuration. */
export type CodeHasher = (email: string, code: string) => string;

/** Makes the keyed hash of codes for this deployment. */
export function createCodeHasher(config: Pick<Config, 'secretsKey' | 'operatorToken'>): CodeHasher {
  const material = config.secretsKey ? Buffer.from(config.secretsKey, 'base64') : Buffer.from(config.operatorToken, 'utf8');
  const key = Buffer.from(hkdfSync('sha256', material, 'hubhook', 'sign-in-code v1', 32));
  return (email, code) => createHmac('sha256', key).update(`${email}\n${code}`).digest('hex');
}

/**
 * Encryption of signing secrets at rest: AES-256-GCM under SECRETS_KEY.
 * Sealed form: `v1:<iv b64>:<tag b64>:<ciphertext b64>` with a fresh random 12-byte IV per seal;
 * the version prefix leaves room for a future algorithm or key id without a data migration.
 *
 * Failure policy: a bad key throws at construction (startup stops, naming SECRETS_KEY); `open`
 * throws `SecretBoxError` on any malformed, tampered or wrongly-keyed value and never returns
 * partial plaintext.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

const VERSION = 'v1';
const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
// Canonical padded standard base64 (empty allowed for an empty ciphertext).
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Error thrown for a bad key or a value that cannot be opened. */
export class SecretBoxError extends Error {
  override readonly name = 'SecretBoxError';
  constructor(
    readonly code: 'invalid_key' | 'invalid_sealed' | 'decrypt_failed',
    readonly reason: string,
  ) {
    super(`${code}: ${reason}`);
  }
}

/** Seals and opens secrets under one key. */
export type SecretBox = {
  seal(plaintext: string): string;
  open(sealed: string): string;
};

function decodeBase64(s: string): Buffer | null {
  if (!BASE64_RE.test(s)) return null;
  const buf = Buffer.from(s, 'base64');
  return buf.toString('base64') === s ? buf : null;
}

/** Makes a new SECRETS_KEY value: base64 of 32 random bytes. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

/** Builds a box from SECRETS_KEY (base64 of exactly 32 bytes); throws `SecretBoxError` naming SECRETS_KEY otherwise. */
export function createSecretBox(keyBase64: string): SecretBox {
  const raw = typeof keyBase64 === 'string' ? decodeBase64(keyBase64.trim()) : null;
  if (raw === null || raw.length !== KEY_BYTES) {
    const got = raw === null ? 'not valid base64' : `${raw.length} bytes`;
    throw new SecretBoxError('invalid_key', `SECRETS_KEY must be base64 of exactly ${KEY_BYTES} bytes (${got})`);
  }
  const key: KeyObject = createSecretKey(raw);
  raw.fill(0); // the KeyObject holds its own copy; don't leave the key lying in a pooled buffer

  return {
    seal(plaintext: string): string {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(ALGORITHM, key, iv);
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return `${VERSION}:${iv.toString('base64')}:${tag.toString('base64')}:${ct.toString('base64')}`;
    },

    open(sealed: string): string {
      const parts = typeof sealed === 'string' ? sealed.split(':') : [];
      const [version, ivB64, tagB64, ctB64] = parts;
      if (parts.length !== 4 || version !== VERSION || ivB64 === undefined || tagB64 === undefined || ctB64 === undefined) {
        throw new SecretBoxError('invalid_sealed', `sealed value must look like ${VERSION}:<iv>:<tag>:<ciphertext>`);
      }
      const iv = decodeBase64(ivB64);
      const tag = decodeBase64(tagB64);
      const ct = decodeBase64(ctB64);
      if (iv === null || iv.length !== IV_BYTES || tag === null || tag.length !== TAG_BYTES || ct === null) {
        throw new SecretBoxError('invalid_sealed', 'sealed value has a malformed iv, tag or ciphertext');
      }
      try {
        // authTagLength pins the tag size so a truncated tag can never be accepted.
        const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretBoxError('decrypt_failed', 'sealed value was tampered with or SECRETS_KEY is not the key it was sealed with');
      }
    },
  };
}

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBoxError, createSecretBox, generateKey } from './secret-box.ts';
import { generateSecret } from './signing.ts';

function expectError(fn: () => unknown, code: SecretBoxError['code']): SecretBoxError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SecretBoxError);
    expect((err as SecretBoxError).code).toBe(code);
    return err as SecretBoxError;
  }
  return expect.unreachable('expected a SecretBoxError');
}

describe('generateKey', () => {
  it('is base64 of 32 random bytes', () => {
    const k = generateKey();
    expect(Buffer.from(k, 'base64')).toHaveLength(32);
    expect(k).not.toBe(generateKey());
    expect(() => createSecretBox(k)).not.toThrow();
  });
});

describe('createSecretBox', () => {
  it.each([
    ['empty', ''],
    ['16 bytes', randomBytes(16).toString('base64')],
    ['31 bytes', randomBytes(31).toString('base64')],
    ['33 bytes', randomBytes(33).toString('base64')],
    ['64 bytes', randomBytes(64).toString('base64')],
    ['hex of 32 bytes', randomBytes(32).toString('hex')],
    ['not base64', 'this is not a key at all!!'],
    ['unpadded', randomBytes(32).toString('base64').replace(/=+$/, '')],
  ])('refuses a key that is %s, naming SECRETS_KEY', (_label, key) => {
    const err = expectError(() => createSecretBox(key), 'invalid_key');
    expect(err.message).toContain('SECRETS_KEY');
    expect(err.reason).toContain('SECRETS_KEY');
  });

  it('tolerates surrounding whitespace (a key read from a file)', () => {
    const key = generateKey();
    const box = createSecretBox(`${key}\n`);
    expect(createSecretBox(key).open(box.seal('x'))).toBe('x');
  });
});

describe('seal / open', () => {
  const box = createSecretBox(generateKey());

  it.each([
    ['a signing secret', generateSecret()],
    ['an empty string', ''],
    ['unicode', 'pässwörd ✓ 🔑'],
    ['a long value', 'x'.repeat(10_000)],
  ])('round-trips %s', (_label, plaintext) => {
    const sealed = box.seal(plaintext);
    expect(box.open(sealed)).toBe(plaintext);
  });

  it('uses the versioned format with a 12-byte IV and 16-byte tag, and hides the plaintext', () => {
    const secret = generateSecret();
    const sealed = box.seal(secret);
    const [v, iv, tag, ct] = sealed.split(':');
    expect(v).toBe('v1');
    expect(Buffer.from(iv as string, 'base64')).toHaveLength(12);
    expect(Buffer.from(tag as string, 'base64')).toHaveLength(16);
    expect(Buffer.from(ct as string, 'base64')).toHaveLength(Buffer.byteLength(secret));
    expect(sealed).not.toContain(secret.slice(6));
  });

  it('uses a fresh IV each time', () => {
    const a = box.seal('same');
    const b = box.seal('same');
    expect(a).not.toBe(b);
    expect(a.split(':')[1]).not.toBe(b.split(':')[1]);
  });

  it('refuses a value sealed under another key', () => {
    const other = createSecretBox(generateKey());
    expectError(() => other.open(box.seal('secret')), 'decrypt_failed');
  });

  describe('tamper detection', () => {
    const sealed = box.seal(generateSecret());
    const [v, iv, tag, ct] = sealed.split(':') as [string, string, string, string];
    const flipByte = (b64: string, i: number): string => {
      const buf = Buffer.from(b64, 'base64');
      buf[i] = (buf[i] as number) ^ 0x01;
      return buf.toString('base64');
    };

    it.each([
      ['a ciphertext bit flipped', `${v}:${iv}:${tag}:${flipByte(ct, 0)}`],
      ['the last ciphertext byte flipped', `${v}:${iv}:${tag}:${flipByte(ct, Buffer.from(ct, 'base64').length - 1)}`],
      ['the tag flipped', `${v}:${iv}:${flipByte(tag, 15)}:${ct}`],
      ['the IV flipped', `${v}:${flipByte(iv, 0)}:${tag}:${ct}`],
      ['the ciphertext truncated', `${v}:${iv}:${tag}:${Buffer.from(ct, 'base64').subarray(0, 10).toString('base64')}`],
      ['the ciphertext emptied', `${v}:${iv}:${tag}:`],
      ['parts swapped from another seal', `${v}:${iv}:${tag}:${box.seal(generateSecret()).split(':')[3]}`],
    ])('refuses %s', (_label, bad) => {
      expectError(() => box.open(bad), 'decrypt_failed');
    });

    it.each([
      ['an unknown version', `v2:${iv}:${tag}:${ct}`],
      ['a missing part', `${v}:${iv}:${tag}`],
      ['an extra part', `${sealed}:x`],
      ['a short IV', `${v}:${Buffer.alloc(8).toString('base64')}:${tag}:${ct}`],
      ['a truncated tag', `${v}:${iv}:${Buffer.from(tag, 'base64').subarray(0, 12).toString('base64')}:${ct}`],
      ['non-base64 ciphertext', `${v}:${iv}:${tag}:@@@@`],
      ['plaintext stored by mistake', generateSecret()],
      ['an empty string', ''],
    ])('refuses %s as malformed', (_label, bad) => {
      expectError(() => box.open(bad), 'invalid_sealed');
    });
  });
});

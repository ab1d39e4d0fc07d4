import { describe, expect, it } from 'vitest';
import { CODE_DIGITS, createCodeHasher, newSignInCode } from './code.ts';

const config = { secretsKey: Buffer.alloc(32, 1).toString('base64'), operatorToken: 'operator-token-0123456789' };

describe('sign-in codes', () => {
  it('are 8 digits, zero-padded', () => {
    for (let i = 0; i < 200; i++) expect(newSignInCode()).toMatch(new RegExp(`^\\d{${CODE_DIGITS}}$`));
  });

  it('hash under a key, bound to the address', () => {
    const hash = createCodeHasher(config);
    expect(hash('a@b.test', '12345678')).toBe(hash('a@b.test', '12345678'));
    expect(hash('a@b.test', '12345678')).not.toBe(hash('c@b.test', '12345678'));
    expect(hash('a@b.test', '12345678')).not.toBe(hash('a@b.test', '12345679'));
    const otherKey = createCodeHasher({ ...config, secretsKey: Buffer.alloc(32, 2).toString('base64') });
    expect(otherKey('a@b.test', '12345678')).not.toBe(hash('a@b.test', '12345678'));
    // Without SECRETS_KEY the operator token keys it: still not a bare hash of the code.
    const fallback = createCodeHasher({ secretsKey: undefined, operatorToken: config.operatorToken });
    expect(fallback('a@b.test', '12345678')).toMatch(/^[0-9a-f]{64}$/);
    expect(fallback('a@b.test', '12345678')).not.toBe(hash('a@b.test', '12345678'));
  });
});

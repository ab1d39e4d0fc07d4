import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { createSecretBox, generateKey } from '../secret-box.ts';
import { generateSecret, sign } from '../signing.ts';
import { activeSecrets } from './secrets.ts';

const ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;

const box = createSecretBox(generateKey());
const now = new Date('2026-03-01T12:00:00Z');

describe('activeSecrets', () => {
  const current = generateSecret();
  const previous = generateSecret();

  it('is the current secret alone when no rotation overlaps', () => {
    const row = { secret_sealed: box.seal(current), previous_secret_sealed: null, previous_secret_expires_at: null };
    expect(activeSecrets(row, box, now)).toEqual([current]);
  });

  it('adds the previous secret, after the current one, until it expires', () => {
    const expires = new Date(now.getTime() + ROTATION_OVERLAP_MS);
    const row = { secret_sealed: box.seal(current), previous_secret_sealed: box.seal(previous), previous_secret_expires_at: expires };
    expect(activeSecrets(row, box, now)).toEqual([current, previous]);
    expect(activeSecrets(row, box, new Date(expires.getTime() - 1))).toEqual([current, previous]);
    expect(activeSecrets(row, box, expires)).toEqual([current]);
  });

  it('signs so that a receiver holding either secret verifies the request', () => {
    const row = {
      secret_sealed: box.seal(current),
      previous_secret_sealed: box.seal(previous),
      previous_secret_expires_at: new Date(Date.now() + ROTATION_OVERLAP_MS),
    };
    const body = JSON.stringify({ type: 'estate.updated', data: { id: 1 } });
    const headers = sign({ id: 'msg_x', timestamp: new Date(), body, secrets: activeSecrets(row, box) });
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    for (const secret of [current, previous]) expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('throws when a sealed secret cannot be opened, never signing without it', () => {
    const other = createSecretBox(generateKey());
    const row = { secret_sealed: other.seal(current), previous_secret_sealed: null, previous_secret_expires_at: null };
    expect(() => activeSecrets(row, box, now)).toThrow(/decrypt_failed/);
  });
});

import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isId, messageIdFor } from './ids.ts';

describe('messageIdFor', () => {
  it('derives the ids it always did: messages re-derived after an upgrade keep their webhook-id', () => {
    // Pinned: a change here would send an event again under new webhook-ids.
    expect(messageIdFor('evt-1', 'sub_0123456789abcdefghjk')).toBe('msg_emhrzm6tk0f1c6rxpgj9');
    expect(messageIdFor('évènement ✓', 'sub_x')).toBe('msg_v54400cznmv5aq533amj');
  });

  it('is the SHA-256 of both ids with a NUL between, as base32, for any ids (property)', () => {
    const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string(), (eventId, subscriptionId) => {
        const digest = createHash('sha256').update(eventId).update('\0').update(subscriptionId).digest();
        const id = messageIdFor(eventId, subscriptionId);
        expect(id).toBe(`msg_${Array.from(digest.subarray(0, 20), (b) => ALPHABET[b & 31]).join('')}`);
        expect(isId('message', id)).toBe(true);
      }),
    );
  });
});

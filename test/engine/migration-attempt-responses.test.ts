import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { migrateLatest } from '#shared/db/migrate';
import { migrations } from '#shared/db/migrations/index';
import { newId } from '#shared/ids';
import { listAttempts } from '#api/messages/repository';
import { openEarlierRelease } from '../support/migrations.ts';

/** Migration 0007 on a database holding attempts from before it: they are kept and shown as before. */
const BEFORE = ['0001-portal', '0002-subscriptions', '0003-delivery', '0005-onboarding', '0006-accounts'];

describe('migration 0007-attempt-responses on an existing database', () => {
  let db: Knex;
  let schema: string;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ db, schema, drop } = await openEarlierRelease(BEFORE));
  });
  afterAll(async () => {
    await drop();
  });

  it('keeps the old attempts, shown as before plus the new fields, and then takes bytes', async () => {
    expect(BEFORE.every((name) => name in migrations)).toBe(true);
    const messageId = newId('message');
    const old = { message_id: messageId, subscription_id: 'sub_old', attempt: 1, attempted_at: new Date('2026-11-01T10:00:00Z'), duration_ms: 12, outcome: 'failure', status_code: 500, error: null };
    await db('attempts').insert({ ...old, response_body: 'down for maintenance' });

    expect(await migrateLatest(db, schema)).toContain('0007-attempt-responses');

    const [shown] = await listAttempts(db, messageId);
    expect(shown).toEqual({
      attempt: 1,
      attemptedAt: '2026-11-01T10:00:00.000Z',
      durationMs: 12,
      outcome: 'failure',
      statusCode: 500,
      error: null,
      errorMessage: null,
      responseBody: 'down for maintenance',
      responseBodyBase64: Buffer.from('down for maintenance').toString('base64'),
      responseBodyEncoding: 'utf8',
      responseBodyTruncated: false,
      responseStatusText: null,
      responseHeaders: null,
      responseHeadersOmitted: 0,
    });
    // A new row can hold any bytes.
    await db('attempts').insert({ ...old, attempt: 2, response_body: 'ok\uFFFD', response_body_bytes: Buffer.from([0x6f, 0x6b, 0x00]) });
    const [, bytes] = await listAttempts(db, messageId);
    expect(bytes).toMatchObject({ responseBodyEncoding: 'binary', responseBodyBase64: Buffer.from([0x6f, 0x6b, 0x00]).toString('base64') });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { migrateLatest } from '#shared/db/migrate';
import { migrations } from '#shared/db/migrations/index';
import { newId } from '#shared/ids';
import { openEarlierRelease } from '../support/migrations.ts';

/**
 * Migration 0006 on a database that already holds data from before it: users become unique
 * per partner, sign-in codes lose their user, existing user keys get a name.
 */
const BEFORE = ['0001-portal', '0002-subscriptions', '0003-delivery', '0005-onboarding'];

describe('migration 0006-accounts on an existing database', () => {
  let db: Knex;
  let schema: string;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    // The database as the previous release left it.
    ({ db, schema, drop } = await openEarlierRelease(BEFORE));
  });
  afterAll(async () => {
    await drop();
  });

  it('keeps the data and applies the new rules', async () => {
    expect(BEFORE.every((name) => name in migrations)).toBe(true);
    const [a, b] = [newId('partner'), newId('partner')];
    await db('partners').insert([
      { id: a, name: 'Old A', contact_email: 'old@a.test' },
      { id: b, name: 'Old B', contact_email: 'old@b.test' },
    ]);
    const userA = newId('user');
    await db('users').insert({ id: userA, partner_id: a, email: 'shared@old.test', is_contact: true });
    await db('api_keys').insert({ id: newId('apiKey'), partner_id: a, user_id: userA, kind: 'user', secret_hash: 'h1' });
    await db('api_keys').insert({ id: newId('apiKey'), partner_id: a, user_id: userA, kind: 'session', secret_hash: 'h2', expires_at: new Date(Date.now() + 60_000) });
    await db('sign_in_codes').insert({ email: 'shared@old.test', user_id: userA, code_hash: 'c', expires_at: new Date(Date.now() + 60_000) });
    // Before: the address is unique across partners.
    await expect(db('users').insert({ id: newId('user'), partner_id: b, email: 'shared@old.test' })).rejects.toMatchObject({ code: '23505' });

    // Later migrations run too; this one must be among them.
    expect(await migrateLatest(db, schema)).toContain('0006-accounts');

    // After: the same address at another partner is fine, twice at one partner is not.
    await db('users').insert({ id: newId('user'), partner_id: b, email: 'shared@old.test' });
    await expect(db('users').insert({ id: newId('user'), partner_id: a, email: 'shared@old.test' })).rejects.toMatchObject({
      code: '23505',
      constraint: 'users_partner_email_unique',
    });
    expect(await db('users').where({ email: 'shared@old.test' })).toHaveLength(2);
    // The live code stays, without a user; the old user key is named, the session is not.
    expect(await db('sign_in_codes').where({ email: 'shared@old.test' }).first()).not.toHaveProperty('user_id');
    expect((await db('api_keys').where({ user_id: userA }).orderBy('kind', 'desc').select('kind', 'name')).map((k) => [k.kind, k.name])).toEqual([
      ['user', 'first key'],
      ['session', null],
    ]);
  });
});

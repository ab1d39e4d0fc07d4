import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { createPartner, createProduct, type TestPartner } from '../support/fixtures.ts';
import { hashSecret } from '#shared/tokens';

describe('product credentials', () => {
  let ctx: TestContext;
  let partner: TestPartner;
  let other: TestPartner;

  beforeAll(async () => {
    ctx = await startTestContext();
    partner = await createPartner(ctx, { name: 'Keyholder' });
    other = await createPartner(ctx, { name: 'Stranger' });
  });
  afterAll(async () => {
    await ctx.stop();
  });

  const newProduct = async (name: string): Promise<string> => (await createProduct(ctx, partner.apiKey, { name, functions: [], activate: false })).id;
  const addKey = (id: string, token = partner.apiKey) => ctx.request('POST', `/v1/products/${id}/credentials`, { token });
  const revoke = (id: string, keyId: string, token = partner.apiKey) => ctx.request('DELETE', `/v1/products/${id}/credentials/${keyId}`, { token });
  const check = (login: string, accessKey: string) =>
    ctx.request('POST', '/v1/hub/access-check', {
      token: HUB_TOKEN,
      body: { login, accessKey, installationId: 'MSVPAR', functionKey: 'nothing.here' },
    });

  it('issues a login (once per product) and a prefixed key shown once and stored hashed', async () => {
    const id = await newProduct('Keyholder Sync');
    const first = await addKey(id);
    expect(first.status).toBe(201);
    expect(first.body).toEqual({
      login: expect.stringMatching(/^keyholder-sync-[0-9a-z]{10}$/),
      accessKey: expect.stringMatching(/^hhp_[0-9a-z]{20}_[A-Za-z0-9_-]{43}$/),
      keyId: expect.stringMatching(/^crd_[0-9a-z]{20}$/),
      createdAt: expect.any(String),
    });
    const second = await addKey(id);
    expect(second.status).toBe(201);
    expect(second.body.login).toBe(first.body.login);
    expect(second.body.accessKey).not.toBe(first.body.accessKey);

    const row = await ctx.db('product_credentials').where({ id: first.body.keyId }).first();
    expect(row.secret_hash).toBe(hashSecret(first.body.accessKey.split('_').slice(2).join('_')));
    expect(JSON.stringify(row)).not.toContain(first.body.accessKey);

    const product = await ctx.request('GET', `/v1/products/${id}`, { token: partner.apiKey });
    expect(product.body.login).toBe(first.body.login);
    expect(product.body.credentials).toEqual([
      { keyId: first.body.keyId, createdAt: expect.any(String), revokedAt: null },
      { keyId: second.body.keyId, createdAt: expect.any(String), revokedAt: null },
    ]);
    expect(product.text).not.toContain(first.body.accessKey);
  });

  it('refuses a third active key with 409', async () => {
    const id = await newProduct('Keyholder Three');
    expect((await addKey(id)).status).toBe(201);
    expect((await addKey(id)).status).toBe(201);
    const third = await addKey(id);
    expect(third.status).toBe(409);
    expect(third.body.error.code).toBe('too_many_active_keys');
  });

  it('never lets concurrent requests make a third active key', async () => {
    const id = await newProduct('Keyholder Race');
    const answers = await Promise.all([addKey(id), addKey(id), addKey(id), addKey(id)]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 201, 409, 409]);
  });

  it('rotates: add a second key, revoke the first; the first is refused, the second works', async () => {
    const id = await newProduct('Keyholder Rotate');
    const old = await addKey(id);
    const fresh = await addKey(id);
    const gone = await revoke(id, old.body.keyId);
    expect(gone.status).toBe(204);
    expect((await check(old.body.login, old.body.accessKey)).body).toMatchObject({ allowed: false, reason: 'key_revoked' });
    // The new key gets past the credential checks (the function is unknown here, which comes next).
    expect((await check(fresh.body.login, fresh.body.accessKey)).body).toMatchObject({ allowed: false, reason: 'unknown_function' });
    // With one active key left, another may be added.
    expect((await addKey(id)).status).toBe(201);
    const product = await ctx.request('GET', `/v1/products/${id}`, { token: partner.apiKey });
    expect(product.body.credentials.find((c: { keyId: string }) => c.keyId === old.body.keyId).revokedAt).toEqual(expect.any(String));
    const audit = await ctx.db('audit_log').whereIn('action', ['product.credential_created', 'product.credential_revoked']).where('data', '@>', JSON.stringify({ productId: id }));
    expect(audit.map((a) => a.action).sort()).toEqual(['product.credential_created', 'product.credential_created', 'product.credential_created', 'product.credential_revoked']);
    expect(JSON.stringify(audit)).not.toContain(old.body.accessKey);
  });

  it('treats revoking twice as done', async () => {
    const id = await newProduct('Keyholder Twice');
    const key = await addKey(id);
    expect((await revoke(id, key.body.keyId)).status).toBe(204);
    expect((await revoke(id, key.body.keyId)).status).toBe(204);
  });

  it('answers 404 for an unknown or malformed key id, or a key of another product', async () => {
    const a = await newProduct('Keyholder A');
    const b = await newProduct('Keyholder B');
    const keyOfB = await addKey(b);
    expect((await revoke(a, 'crd_00000000000000000000')).status).toBe(404);
    expect((await revoke(a, 'junk')).status).toBe(404);
    expect((await revoke(a, keyOfB.body.keyId)).status).toBe(404);
  });

  it('answers 404 to another partner, and leaves the keys alone', async () => {
    const id = await newProduct('Keyholder Private');
    const key = await addKey(id);
    expect((await addKey(id, other.apiKey)).status).toBe(404);
    expect((await revoke(id, key.body.keyId, other.apiKey)).status).toBe(404);
    expect((await check(key.body.login, key.body.accessKey)).body.reason).toBe('unknown_function');
  });
});

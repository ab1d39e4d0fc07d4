import { expect } from 'vitest';
import { randomText } from '#shared/ids';
import { createPartner } from '#api/partners/service';
import type { TestContext } from './context.ts';

/**
 * Test data made directly through services or tables, for what a test needs but does not test:
 * a partner with its contact person's key, catalog functions, installations, legacy grants.
 * What a test is about goes through HTTP.
 */

/** A partner (and its contact person with an API key), made as the operator route makes it. */
export async function createPartnerFixture(ctx: TestContext, name = `Partner ${randomText(8)}`) {
  return ctx.db.transaction((trx) => createPartner(trx, { name, contactEmail: `contact-${randomText(10)}@example.test` }));
}

/** Puts a function into the catalog (or replaces it). */
export async function upsertFunctionFixture(
  ctx: TestContext,
  fn: { key: string; name?: string; eventTypes?: string[]; filterFields?: string[] },
): Promise<void> {
  await ctx
    .db('functions')
    .insert({ key: fn.key, name: fn.name ?? fn.key, event_types: fn.eventTypes ?? [], filter_fields: fn.filterFields ?? [] })
    .onConflict('key')
    .merge();
}

/** An installation with a fresh (or the given) InstallationID. */
export async function createInstallationFixture(ctx: TestContext, id = `I${randomText(8).toUpperCase()}`): Promise<string> {
  await ctx.db('installations').insert({ id, name: `Installation ${id}` }).onConflict('id').ignore();
  return id;
}

/** A legacy grant (partner, installation, function), as operators record them. */
export async function createLegacyGrantFixture(
  ctx: TestContext,
  grant: { partnerId: string; installationId: string; functionKey: string },
): Promise<string> {
  const id = `lgr_${randomText(20)}`;
  await ctx.db('legacy_grants').insert({ id, partner_id: grant.partnerId, installation_id: grant.installationId, function_key: grant.functionKey });
  return id;
}

/** Options for `createActiveProductFixture`. */
export interface ActiveProductOptions {
  name?: string;
  type?: 'order_integration' | 'rights';
  functions: (string | { key: string; filters?: Record<string, string[]> })[];
  availability?: { mode: 'all' | 'restricted'; installationIds?: string[] };
}

/**
 * Through HTTP, as a partner: creates a product, puts the functions into version 1 and
 * activates it. Returns the product's answer.
 */
export async function createActiveProductFixture(ctx: TestContext, apiKey: string, options: ActiveProductOptions) {
  const created = await ctx.request('POST', '/v1/products', {
    token: apiKey,
    body: {
      name: options.name ?? `Product ${randomText(8)}`,
      type: options.type ?? 'rights',
      ...(options.availability ? { availability: { installationIds: [], ...options.availability } } : {}),
    },
  });
  expect(created.status, created.text).toBe(201);
  const id = created.body.id as string;
  for (const fn of options.functions) {
    const { key, filters } = typeof fn === 'string' ? { key: fn, filters: undefined } : fn;
    const put = await ctx.request('PUT', `/v1/products/${id}/versions/1/functions/${key}`, { token: apiKey, body: filters ? { filters } : {} });
    expect(put.status, put.text).toBe(200);
  }
  const activated = await ctx.request('POST', `/v1/products/${id}/versions/1/activate`, { token: apiKey });
  expect(activated.status, activated.text).toBe(200);
  return activated.body;
}

/** Polls `probe` until it returns something other than undefined; fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`nothing came within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

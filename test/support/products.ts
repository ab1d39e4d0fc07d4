import { expect } from 'vitest';
import { randomText } from '#shared/ids';
import { HUB_TOKEN, OPERATOR_TOKEN, type TestContext } from './context.ts';

/**
 * Helpers for the product tests: what a test needs but does not test is made through the
 * operator's routes (installations, catalog functions, legacy grants) or, for a ready product,
 * the partner's. Partners come from `createTestPartner` in portal.ts.
 */

/** Puts a function into the catalog (or replaces it) through `PUT /v1/functions/{key}`. */
export async function putFunction(ctx: TestContext, fn: { key: string; eventTypes?: string[]; filterFields?: string[] }): Promise<void> {
  const res = await ctx.request('PUT', `/v1/functions/${fn.key}`, {
    token: OPERATOR_TOKEN,
    body: { name: fn.key, eventTypes: fn.eventTypes ?? [], filterFields: fn.filterFields ?? [] },
  });
  expect(res.status, res.text).toBe(200);
}

/** Registers an installation with a fresh InstallationID through `POST /v1/installations`. */
export async function createInstallation(ctx: TestContext): Promise<string> {
  const id = `I${randomText(8).toUpperCase()}`;
  const res = await ctx.request('POST', '/v1/installations', { token: OPERATOR_TOKEN, body: { installationId: id, name: `Installation ${id}` } });
  expect(res.status, res.text).toBe(201);
  return res.body.installationId;
}

/** Records a legacy grant (partner, installation, function) through the operator route. */
export async function createLegacyGrant(ctx: TestContext, grant: { partnerId: string; installationId: string; functionKey: string }): Promise<string> {
  const res = await ctx.request('POST', `/v1/partners/${grant.partnerId}/legacy-grants`, {
    token: OPERATOR_TOKEN,
    body: { installationId: grant.installationId, functionKey: grant.functionKey },
  });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

/** Options for `createActiveProduct`. */
export interface ActiveProductOptions {
  name?: string;
  type?: 'order_integration' | 'rights';
  functions: (string | { key: string; filters?: Record<string, string[]> })[];
  availability?: { mode: 'all' | 'restricted'; installationIds?: string[] };
}

/**
 * As a partner, through HTTP: creates a product, puts the functions into version 1 and
 * activates it. Returns the product as the activation answered it.
 */
export async function createActiveProduct(ctx: TestContext, apiKey: string, options: ActiveProductOptions) {
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

/** The HUB activates a product for an installation (at its active version). */
export async function activateFor(ctx: TestContext, installationId: string, productId: string): Promise<void> {
  const res = await ctx.request('POST', `/v1/installations/${installationId}/products/${productId}/activate`, { token: HUB_TOKEN });
  expect(res.status, res.text).toBe(200);
}

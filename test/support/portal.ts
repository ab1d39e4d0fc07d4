import { expect } from 'vitest';
import { newId, randomText } from '#shared/ids';
import type { Db } from '#shared/db/knex';
import { OPERATOR_TOKEN, type TestContext } from './context.ts';

/** A partner made through the operator route, with its contact person's key. */
export interface TestPartner {
  partnerId: string;
  name: string;
  userId: string;
  email: string;
  apiKey: string;
}

/** Creates a partner through `POST /v1/partners` (a unique name and e-mail unless given). */
export async function createTestPartner(ctx: TestContext, options: { name?: string; contactEmail?: string } = {}): Promise<TestPartner> {
  const tag = randomText(8);
  const name = options.name ?? `Partner ${tag}`;
  const contactEmail = options.contactEmail ?? `contact-${tag}@example.com`;
  const res = await ctx.request('POST', '/v1/partners', { token: OPERATOR_TOKEN, body: { name, contactEmail } });
  expect(res.status, res.text).toBe(201);
  return { partnerId: res.body.partner.id, name, userId: res.body.user.id, email: res.body.user.email, apiKey: res.body.apiKey };
}

/** Adds a user through `POST /v1/users` with the given partner key. */
export async function addTestUser(ctx: TestContext, apiKey: string, email = `user-${randomText(8)}@example.com`) {
  const res = await ctx.request('POST', '/v1/users', { token: apiKey, body: { email } });
  expect(res.status, res.text).toBe(201);
  return { userId: res.body.user.id as string, email: res.body.user.email as string, apiKey: res.body.apiKey as string };
}

/** What `insertProduct` writes: versions map a number to the function keys it grants. */
export interface ProductRows {
  partnerId: string;
  name?: string;
  status?: 'draft' | 'active';
  activeVersion?: number | null;
  versions?: Record<number, string[]>;
  availability?: { mode: 'all' | 'restricted'; installationIds?: string[] };
}

/**
 * Writes a product, its versions and their functions straight into the portal tables (the
 * products routes are another domain's; these tests only need the rows they read).
 */
export async function insertProduct(db: Db, rows: ProductRows): Promise<string> {
  const id = newId('product');
  await db('products').insert({
    id,
    partner_id: rows.partnerId,
    name: rows.name ?? `Product ${randomText(6)}`,
    type: 'rights',
    status: rows.status ?? 'active',
    active_version: rows.activeVersion === undefined ? (rows.status === 'draft' ? null : 1) : rows.activeVersion,
    availability_mode: rows.availability?.mode ?? 'all',
    availability_installation_ids: rows.availability?.installationIds ?? [],
  });
  for (const [number, functions] of Object.entries(rows.versions ?? { 1: [] })) {
    await db('product_versions').insert({ product_id: id, number: Number(number), status: 'active' });
    for (const key of functions) await db('version_functions').insert({ product_id: id, version: Number(number), function_key: key });
  }
  return id;
}

/** Activates a product for an installation at a version, straight in the activations table. */
export async function insertActivation(db: Db, installationId: string, productId: string, version: number): Promise<void> {
  await db('activations').insert({ installation_id: installationId, product_id: productId, version });
}

/** The audit rows recorded for a target, oldest first. */
export async function auditFor(db: Db, targetId: string) {
  return db('audit_log').where({ target_id: targetId }).orderBy('id');
}

/** Follows `nextCursor` from `path` (which carries its own `?limit=`) and returns every item, with the page sizes seen. */
export async function walkPages(ctx: TestContext, path: string, token: string): Promise<{ items: Record<string, unknown>[]; pages: number[] }> {
  const items: Record<string, unknown>[] = [];
  const pages: number[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const res = await ctx.request('GET', cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path, { token });
    expect(res.status, res.text).toBe(200);
    items.push(...res.body.data);
    pages.push(res.body.data.length);
    cursor = res.body.nextCursor;
    expect(pages.length).toBeLessThan(100);
  } while (cursor);
  return { items, pages };
}

/** The code in the newest sign-in mail to `email`, read from the outbox table (no SMTP_URL: the body is kept). */
export async function latestSignInCode(db: Db, email: string): Promise<string> {
  const row = await db('mail_outbox').where({ to_address: email, kind: 'sign-in-code' }).orderBy('created_at', 'desc').first();
  const code = /sign-in code is: (\d{8})/.exec(row?.text_body ?? '')?.[1];
  if (!code) throw new Error(`no sign-in code mailed to ${email}`);
  return code;
}

/** Asks for a code for `email` and exchanges it (with `partnerId` if given); the verify answer. */
export async function signInByEmail(ctx: TestContext, email: string, partnerId?: string) {
  const asked = await ctx.request('POST', '/v1/auth/sign-in', { body: { email } });
  expect(asked.status, asked.text).toBe(202);
  const code = await latestSignInCode(ctx.db, email);
  return { code, verified: await ctx.request('POST', '/v1/auth/verify', { body: { email, code, ...(partnerId ? { partnerId } : {}) } }) };
}

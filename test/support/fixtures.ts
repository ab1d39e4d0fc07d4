/**
 * The one fixture module of the tests: how a test makes a partner, a user, a catalog function,
 * an installation, a product with its versions, an activation, a legacy grant, a subscription
 * and a HUB event, and how it reads back what it needs (audit rows, pages, sign-in codes).
 *
 * One naming rule, one shape per concept:
 * - `createX(ctx, ...)` goes through the HTTP API, as a partner, the operator or the HUB would,
 *   and expects the route to succeed (a test of the route itself calls `ctx.request`).
 * - `insertX(db, ...)` writes the rows straight into the tables: for tests that need many
 *   variations quickly, or that must not depend on another domain's routes.
 * Both return the same thing for the same concept (a `TestPartner`, a product id, ...).
 */
import { expect } from 'vitest';
import type { Knex } from '#shared/db/knex';
import { newId, randomText } from '#shared/ids';
import { createSecretBox } from '#shared/secret-box';
import { generateSecret } from '#shared/signing';
import { createPartner as createPartnerRows } from '#api/partners/service';
import { HUB_TOKEN, OPERATOR_TOKEN, SECRETS_KEY, type TestContext } from './context.ts';

// ---------------------------------------------------------------------------------------------
// Partners and users

/** A partner and its contact person, with that person's API key. */
export interface TestPartner {
  partnerId: string;
  name: string;
  userId: string;
  email: string;
  apiKey: string;
}

/** What a new partner is called; a unique name and contact e-mail unless given. */
export interface PartnerOptions {
  name?: string;
  contactEmail?: string;
}

function partnerInput(options: PartnerOptions): { name: string; contactEmail: string } {
  const tag = randomText(8);
  return { name: options.name ?? `Partner ${tag}`, contactEmail: options.contactEmail ?? `contact-${tag}@example.com` };
}

/** Creates a partner through the operator's `POST /v1/partners`. */
export async function createPartner(ctx: TestContext, options: PartnerOptions = {}): Promise<TestPartner> {
  const { name, contactEmail } = partnerInput(options);
  const res = await ctx.request('POST', '/v1/partners', { token: OPERATOR_TOKEN, body: { name, contactEmail } });
  expect(res.status, res.text).toBe(201);
  return { partnerId: res.body.partner.id, name, userId: res.body.user.id, email: res.body.user.email, apiKey: res.body.apiKey };
}

/** Creates a partner (and its contact user with an API key) through the partner service, in one transaction. */
export async function insertPartner(db: Knex, options: PartnerOptions = {}): Promise<TestPartner> {
  const input = partnerInput(options);
  const made = await db.transaction((trx) => createPartnerRows(trx, input));
  return { partnerId: made.partner.id, name: made.partner.name, userId: made.user.id, email: made.user.email, apiKey: made.apiKey };
}

/** A user of a partner, with the API key it was given. */
export interface TestUser {
  userId: string;
  email: string;
  apiKey: string;
}

/** Adds a user through `POST /v1/users` with the given partner key. */
export async function createUser(ctx: TestContext, apiKey: string, email = `user-${randomText(8)}@example.com`): Promise<TestUser> {
  const res = await ctx.request('POST', '/v1/users', { token: apiKey, body: { email } });
  expect(res.status, res.text).toBe(201);
  return { userId: res.body.user.id, email: res.body.user.email, apiKey: res.body.apiKey };
}

// ---------------------------------------------------------------------------------------------
// The function catalog and installations

/** A catalog function; no `eventTypes` makes it not pushable. */
export interface FunctionInput {
  key: string;
  name?: string;
  eventTypes?: string[];
  filterFields?: string[];
}

/** Puts a function into the catalog (or replaces it) through `PUT /v1/functions/{key}`. */
export async function createFunction(ctx: TestContext, fn: FunctionInput): Promise<void> {
  const res = await ctx.request('PUT', `/v1/functions/${fn.key}`, {
    token: OPERATOR_TOKEN,
    body: { name: fn.name ?? fn.key, eventTypes: fn.eventTypes ?? [], filterFields: fn.filterFields ?? [] },
  });
  expect(res.status, res.text).toBe(200);
}

/** Inserts a catalog function (or replaces it) straight into the table. */
export async function insertFunction(db: Knex, fn: FunctionInput): Promise<void> {
  await db('functions')
    .insert({ key: fn.key, name: fn.name ?? fn.key, description: '', event_types: fn.eventTypes ?? [], filter_fields: fn.filterFields ?? [] })
    .onConflict('key')
    .merge();
}

const freshInstallationId = () => `I${randomText(8).toUpperCase()}`;

/** Registers an installation through `POST /v1/installations` (a fresh InstallationID unless given); returns its id. */
export async function createInstallation(ctx: TestContext, id = freshInstallationId()): Promise<string> {
  const res = await ctx.request('POST', '/v1/installations', { token: OPERATOR_TOKEN, body: { installationId: id, name: `Installation ${id}` } });
  expect(res.status, res.text).toBe(201);
  return res.body.installationId;
}

/** Inserts an installation (kept if it is there already); returns its id. */
export async function insertInstallation(db: Knex, id = freshInstallationId()): Promise<string> {
  await db('installations').insert({ id, name: id }).onConflict('id').ignore();
  return id;
}

// ---------------------------------------------------------------------------------------------
// Products, versions, activations, legacy grants

/** Who may activate a product: everyone, or only the listed installations. */
export interface Availability {
  mode: 'all' | 'restricted';
  installationIds?: string[];
}

/** What one version grants: function keys, or function keys with their filters. */
export type VersionGrants = string[] | Record<string, Record<string, unknown[]>>;

const grantsOf = (grants: VersionGrants): [string, Record<string, unknown[]>][] =>
  Array.isArray(grants) ? grants.map((key) => [key, {}]) : Object.entries(grants);

/** Options for `createProduct`: the product, and what its version 1 grants. */
export interface ProductOptions {
  name?: string;
  type?: 'order_integration' | 'rights';
  functions: (string | { key: string; filters?: Record<string, string[]> })[];
  availability?: Availability;
  /** Activate version 1 (default true); false leaves the product a draft. */
  activate?: boolean;
}

/**
 * As a partner, through HTTP: creates a product, puts the functions into version 1 and
 * activates it (unless `activate: false`). Returns the product as the last step answered it:
 * the activation, or for a draft its creation.
 */
export async function createProduct(ctx: TestContext, apiKey: string, options: ProductOptions) {
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
  if (options.activate === false) return created.body;
  const activated = await ctx.request('POST', `/v1/products/${id}/versions/1/activate`, { token: apiKey });
  expect(activated.status, activated.text).toBe(200);
  return activated.body;
}

/** What `insertProduct` writes. */
export interface ProductRows {
  partnerId: string;
  name?: string;
  /** `active` (the default) has an active version; a `draft` has none and all its versions are drafts. */
  status?: 'draft' | 'active';
  /** The active version of an active product (default 1). */
  activeVersion?: number;
  /** Per version, 1 first: what it grants. Default: one version granting nothing. */
  versions?: VersionGrants[];
  availability?: Availability;
}

/**
 * Writes a product, its versions and their functions straight into the tables, as the
 * product routes would leave them: the active version `active`, the ones before it
 * `superseded`, the ones after it (and all of a draft's) `draft`. Returns the product's id.
 */
export async function insertProduct(db: Knex, rows: ProductRows): Promise<string> {
  const id = newId('product');
  const status = rows.status ?? 'active';
  const active = status === 'active' ? (rows.activeVersion ?? 1) : null;
  await db.transaction(async (trx) => {
    await trx('products').insert({
      id,
      partner_id: rows.partnerId,
      name: rows.name ?? `Product ${randomText(6)}`,
      type: 'rights',
      status,
      active_version: active,
      availability_mode: rows.availability?.mode ?? 'all',
      availability_installation_ids: rows.availability?.installationIds ?? [],
    });
    for (const [i, grants] of (rows.versions ?? [[]]).entries()) {
      const number = i + 1;
      const versionStatus = active === null || number > active ? 'draft' : number === active ? 'active' : 'superseded';
      await trx('product_versions').insert({ product_id: id, number, status: versionStatus, activated_at: versionStatus === 'draft' ? null : new Date() });
      for (const [functionKey, filters] of grantsOf(grants)) {
        await trx('version_functions').insert({ product_id: id, version: number, function_key: functionKey, filters: JSON.stringify(filters) });
      }
    }
  });
  return id;
}

/** The HUB activates a product for an installation (at its active version) through HTTP. */
export async function activateProduct(ctx: TestContext, installationId: string, productId: string): Promise<void> {
  const res = await ctx.request('POST', `/v1/installations/${installationId}/products/${productId}/activate`, { token: HUB_TOKEN });
  expect(res.status, res.text).toBe(200);
}

/** Activates a product for an installation at a version (default 1) in the table; the installation is made if missing. */
export async function insertActivation(db: Knex, installationId: string, productId: string, version = 1): Promise<void> {
  await insertInstallation(db, installationId);
  await db('activations').insert({ installation_id: installationId, product_id: productId, version });
}

/** Records a legacy grant (partner, installation, function) through the operator route; returns its id. */
export async function createLegacyGrant(ctx: TestContext, grant: { partnerId: string; installationId: string; functionKey: string }): Promise<string> {
  const res = await ctx.request('POST', `/v1/partners/${grant.partnerId}/legacy-grants`, {
    token: OPERATOR_TOKEN,
    body: { installationId: grant.installationId, functionKey: grant.functionKey },
  });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

/** A subscription and its signing secret (which the API shows once). */
export interface TestSubscription {
  id: string;
  secret: string;
}

/**
 * As a partner, through `POST /v1/products/{id}/subscriptions`: the receiver at `body.url` is
 * verified first, so it must answer 2xx. Returns the created subscription and its secret.
 */
export async function createSubscription(
  ctx: TestContext,
  apiKey: string,
  productId: string,
  body: { functionKey: string; url: string } & Record<string, unknown>,
): Promise<TestSubscription & { subscription: Record<string, unknown> & { id: string } }> {
  const res = await ctx.request('POST', `/v1/products/${productId}/subscriptions`, { token: apiKey, body });
  expect(res.status, res.text).toBe(201);
  return { id: res.body.subscription.id, secret: res.body.secret, subscription: res.body.subscription };
}

/** What `insertSubscription` writes. */
export interface SubscriptionRows {
  partnerId: string;
  productId: string;
  functionKey: string;
  url: string;
  eventTypes: string[];
  state?: string;
  ordering?: 'none' | 'entity';
}

/** Writes a subscription with a fresh secret (returned, as the API would once) straight into the table. */
export async function insertSubscription(db: Knex, rows: SubscriptionRows): Promise<TestSubscription> {
  const id = newId('subscription');
  const secret = generateSecret();
  await db('subscriptions').insert({
    id,
    partner_id: rows.partnerId,
    product_id: rows.productId,
    function_key: rows.functionKey,
    url: rows.url,
    event_types: rows.eventTypes,
    state: rows.state ?? 'active',
    ordering: rows.ordering ?? 'none',
    secret_sealed: createSecretBox(SECRETS_KEY).seal(secret),
  });
  return { id, secret };
}

/** Options for `insertSubscriber`: where the events come from and where they go. */
export interface SubscriberRows {
  installationId: string;
  url: string;
  eventTypes: string[];
  /** Default `estates.read` (the catalog function must exist). */
  functionKey?: string;
  /** The product's filters on the function. */
  filters?: Record<string, unknown[]>;
}

/**
 * The whole route of an event, in the tables: a new partner whose active product grants the
 * function, activated in the installation, with one subscription to `url`.
 */
export async function insertSubscriber(db: Knex, rows: SubscriberRows) {
  const functionKey = rows.functionKey ?? 'estates.read';
  const partner = await insertPartner(db);
  const productId = await insertProduct(db, { partnerId: partner.partnerId, versions: [{ [functionKey]: rows.filters ?? {} }] });
  await insertActivation(db, rows.installationId, productId);
  const subscription = await insertSubscription(db, { partnerId: partner.partnerId, productId, functionKey, url: rows.url, eventTypes: rows.eventTypes });
  return { partner, productId, subscription };
}

/** The catalog the push tests use: a pushable estates function and a non-pushable one. */
export const PUSHABLE = 'estates.read';
export const PUSHABLE_EVENTS = ['estate.created', 'estate.updated', 'estate.deleted'];
export const NOT_PUSHABLE = 'contacts.write';
export const UNGRANTED = 'appointments.read';

/** A partner with a draft product whose latest version grants PUSHABLE (filtered by department) and NOT_PUSHABLE. */
export async function pushSetup(db: Knex): Promise<TestPartner & { productId: string }> {
  await insertFunction(db, { key: PUSHABLE, eventTypes: PUSHABLE_EVENTS, filterFields: ['departmentId', 'estateStatus'] });
  await insertFunction(db, { key: NOT_PUSHABLE });
  await insertFunction(db, { key: UNGRANTED, eventTypes: ['appointment.created'] });
  const partner = await insertPartner(db);
  const productId = await insertProduct(db, {
    partnerId: partner.partnerId,
    status: 'draft',
    // Version 1 granted the appointments function; the latest (2) no longer does.
    versions: [{ [UNGRANTED]: {} }, { [PUSHABLE]: { departmentId: ['dep-42'] }, [NOT_PUSHABLE]: {} }],
  });
  return { ...partner, productId };
}

// ---------------------------------------------------------------------------------------------
// HUB events

/** A HUB event body for `POST /v1/hub/events`. */
export interface HubEvent {
  id: string;
  installationId: string;
  type: string;
  entityId: string;
  occurredAt: string;
  data: Record<string, unknown>;
}

let eventCounter = 0;
/** A HUB event with a unique id, occurring now. */
export function hubEvent(installationId: string, type: string, data: Record<string, unknown> = {}, entityId = 'e1'): HubEvent {
  eventCounter += 1;
  return { id: `hub-${Date.now()}-${eventCounter}-${Math.random().toString(36).slice(2)}`, installationId, type, entityId, occurredAt: new Date().toISOString(), data };
}

/** What `POST /v1/hub/events` answers. */
export interface PublishAnswer {
  accepted: number;
  duplicates: number;
  rejected: unknown[];
}

/**
 * As the HUB, through `POST /v1/hub/events`, in batches of at most 100 (the route's limit):
 * each batch must be accepted (202). Returns the batches' answers added up.
 */
export async function publishEvents(ctx: TestContext, events: readonly object[]): Promise<PublishAnswer> {
  const total: PublishAnswer = { accepted: 0, duplicates: 0, rejected: [] };
  for (let i = 0; i < events.length; i += 100) {
    const res = await ctx.request('POST', '/v1/hub/events', { token: HUB_TOKEN, body: { events: events.slice(i, i + 100) } });
    expect(res.status, res.text).toBe(202);
    total.accepted += res.body.accepted;
    total.duplicates += res.body.duplicates;
    total.rejected.push(...res.body.rejected);
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Reading back

/** The audit rows recorded for a target, oldest first. */
export async function auditFor(db: Knex, targetId: string) {
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
export async function latestSignInCode(db: Knex, email: string): Promise<string> {
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

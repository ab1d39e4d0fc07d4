import type { Knex } from '#shared/db/knex';
import { newId } from '#shared/ids';
import { createSecretBox } from '#shared/secret-box';
import { generateSecret } from '#shared/signing';
import { createPartner } from '#api/partners/service';
import { SECRETS_KEY } from './context.ts';

/**
 * Rows for delivery tests, written straight to the tables: a partner with an active product
 * granting functions, activations, and subscriptions. (The HTTP routes for these are tested
 * on their own; the engine's tests need many variations quickly.)
 */
export async function seedPartner(db: Knex, name = `Partner ${newId('partner')}`) {
  return db.transaction((trx) => createPartner(trx, { name, contactEmail: `${newId('user')}@example.com` }));
}

export async function seedFunction(db: Knex, key: string, eventTypes: string[], filterFields: string[] = []) {
  await db('functions')
    .insert({ key, name: key, description: '', event_types: eventTypes, filter_fields: filterFields })
    .onConflict('key')
    .merge();
}

/** An active product of the partner at version 1, granting `functions` (with filters). */
export async function seedProduct(
  db: Knex,
  partnerId: string,
  functions: Record<string, Record<string, string[]>>,
  availability: { mode: 'all' | 'restricted'; installationIds?: string[] } = { mode: 'all' },
) {
  const id = newId('product');
  await db('products').insert({
    id,
    partner_id: partnerId,
    name: `Product ${id}`,
    type: 'rights',
    status: 'active',
    active_version: 1,
    availability_mode: availability.mode,
    availability_installation_ids: availability.installationIds ?? [],
  });
  await db('product_versions').insert({ product_id: id, number: 1, status: 'active', activated_at: new Date() });
  for (const [functionKey, filters] of Object.entries(functions)) {
    await db('version_functions').insert({ product_id: id, version: 1, function_key: functionKey, filters: JSON.stringify(filters) });
  }
  return id;
}

export async function seedInstallation(db: Knex, id: string) {
  await db('installations').insert({ id, name: id }).onConflict('id').ignore();
}

export async function seedActivation(db: Knex, installationId: string, productId: string, version = 1) {
  await seedInstallation(db, installationId);
  await db('activations').insert({ installation_id: installationId, product_id: productId, version });
}

/** A subscription with a fresh secret (returned, as the API would once). */
export async function seedSubscription(
  db: Knex,
  input: { partnerId: string; productId: string; functionKey: string; url: string; eventTypes: string[]; state?: string; ordering?: 'none' | 'entity' },
) {
  const id = newId('subscription');
  const secret = generateSecret();
  await db('subscriptions').insert({
    id,
    partner_id: input.partnerId,
    product_id: input.productId,
    function_key: input.functionKey,
    url: input.url,
    event_types: input.eventTypes,
    state: input.state ?? 'active',
    ordering: input.ordering ?? 'none',
    secret_sealed: createSecretBox(SECRETS_KEY).seal(secret),
  });
  return { id, secret };
}

let counter = 0;
/** A HUB event body for POST /v1/hub/events. */
export function hubEvent(installationId: string, type: string, data: Record<string, unknown> = {}, entityId = 'e1') {
  counter += 1;
  return { id: `hub-${Date.now()}-${counter}-${Math.random().toString(36).slice(2)}`, installationId, type, entityId, occurredAt: new Date().toISOString(), data };
}

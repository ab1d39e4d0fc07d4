import type { Knex } from 'knex';

/**
 * Whether a product is offered to an installation: it must be active (a version activated by
 * its partner) and its availability must be `all` or list the installation. The api (lists,
 * activation, access check) and the workers (upgrade notices, fan-out) ask the same question,
 * so it lives here once, as a predicate on a row and as a SQL condition.
 */

/** The product columns the rule reads. */
export interface AvailabilityRow {
  status: string;
  availability_mode: string;
  availability_installation_ids: readonly string[];
}

/** True when the product's availability admits the installation (ignores the product's status). */
export function admitsInstallation(product: AvailabilityRow, installationId: string): boolean {
  return product.availability_mode === 'all' || product.availability_installation_ids.includes(installationId);
}

/** True when the product is active and admits the installation. */
export function isAvailableTo(product: AvailabilityRow, installationId: string): boolean {
  return product.status === 'active' && admitsInstallation(product, installationId);
}

/**
 * Adds "active and available to `installationId`" to a query on products. `table` is the
 * products table's name or alias in the query.
 */
export function whereAvailableTo(query: Knex.QueryBuilder, installationId: string, table = 'products'): Knex.QueryBuilder {
  return query
    .where(`${table}.status`, 'active')
    .where((q) =>
      q
        .where(`${table}.availability_mode`, 'all')
        .orWhereRaw('? = any(??)', [installationId, `${table}.availability_installation_ids`]),
    );
}

import type { Knex } from 'knex';
import * as portal from './0001-portal.ts';
import * as subscriptions from './0002-subscriptions.ts';
import * as delivery from './0003-delivery.ts';
import * as onboarding from './0005-onboarding.ts';
import * as accounts from './0006-accounts.ts';
import * as attemptResponses from './0007-attempt-responses.ts';
import * as deliveryLimits from './0008-delivery-limits.ts';
import * as partitions from './0009-partitions.ts';
import * as apiConventions from './0010-api-conventions.ts';
import * as entityOrdering from './0011-entity-ordering.ts';
import * as deliveryWrites from './0012-delivery-writes.ts';
import * as firstDeliveries from './0013-first-deliveries.ts';
import * as firstSuccessInRow from './0014-first-success-in-row.ts';
import * as messagesWithoutForeignKeys from './0015-messages-without-foreign-keys.ts';

/** Every migration, in the order it runs. Add new ones at the end; never edit a shipped one. */
export const migrations: Record<string, Knex.Migration> = {
  '0001-portal': portal,
  '0002-subscriptions': subscriptions,
  '0003-delivery': delivery,
  '0005-onboarding': onboarding,
  '0006-accounts': accounts,
  '0007-attempt-responses': attemptResponses,
  '0008-delivery-limits': deliveryLimits,
  '0009-partitions': partitions,
  '0010-api-conventions': apiConventions,
  '0011-entity-ordering': entityOrdering,
  '0012-delivery-writes': deliveryWrites,
  '0013-first-deliveries': firstDeliveries,
  '0014-first-success-in-row': firstSuccessInRow,
  '0015-messages-without-foreign-keys': messagesWithoutForeignKeys,
};

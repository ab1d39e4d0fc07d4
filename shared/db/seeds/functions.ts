import type { Db } from '../knex.ts';

/** One catalog entry as the seed writes it. */
export interface SeedFunction {
  key: string;
  name: string;
  description: string;
  eventTypes: string[];
  filterFields: string[];
}

const crud = (entity: string) => [`${entity}.created`, `${entity}.updated`, `${entity}.deleted`];

/**
 * The default function catalog: the HUB API of a real-estate broker platform, in read/write
 * pairs. A read function that lists event types is pushable (partners can subscribe to it), and
 * its filter fields are what a product version may restrict the events by.
 */
export const DEFAULT_FUNCTIONS: readonly SeedFunction[] = [
  {
    key: 'estates.read',
    name: 'Read estates',
    description: 'Estates (properties for sale or rent) with address, status, prices, key figures and brokers.',
    eventTypes: crud('estate'),
    filterFields: ['departmentId', 'estateStatus', 'estateType'],
  },
  {
    key: 'estates.write',
    name: 'Write estates',
    description: 'Create estates and update their descriptions, key figures and status.',
    eventTypes: [],
    filterFields: [],
  },
  {
    key: 'contacts.read',
    name: 'Read contacts',
    description: 'Sellers, buyers, interested parties and other contacts with their roles on estates.',
    eventTypes: crud('contact'),
    filterFields: ['departmentId', 'contactType'],
  },
  {
    key: 'contacts.write',
    name: 'Write contacts',
    description: 'Create and update contacts, e.g. leads registered by a partner’s website.',
    eventTypes: [],
    filterFields: [],
  },
  {
    key: 'departments.read',
    name: 'Read departments',
    description: 'The broker offices of the installation: names, addresses, organisation numbers.',
    eventTypes: ['department.created', 'department.updated'],
    filterFields: [],
  },
  {
    key: 'employees.read',
    name: 'Read employees',
    description: 'Brokers and other staff, with their departments, titles and contact details.',
    eventTypes: ['employee.created', 'employee.updated', 'employee.deactivated'],
    filterFields: ['departmentId'],
  },
  {
    key: 'orders.read',
    name: 'Read orders',
    description: 'Orders started from a sales object (an estate) for the partner’s product, with their status.',
    eventTypes: ['order.created', 'order.status_changed', 'order.cancelled'],
    filterFields: ['departmentId', 'orderType', 'orderStatus'],
  },
  {
    key: 'orders.status.write',
    name: 'Update order status',
    description: 'Report progress on an order (received, in progress, delivered, rejected) back to the broker.',
    eventTypes: [],
    filterFields: [],
  },
  {
    key: 'documents.read',
    name: 'Read documents',
    description: 'Documents on estates and contacts: contracts, prospectuses, surveys.',
    eventTypes: ['document.created', 'document.updated', 'document.deleted'],
    filterFields: ['departmentId', 'documentType'],
  },
  {
    key: 'documents.write',
    name: 'Write documents',
    description: 'Upload documents to an estate or a contact, e.g. a delivered survey report.',
    eventTypes: [],
    filterFields: [],
  },
  {
    key: 'images.read',
    name: 'Read images',
    description: 'Estate photos and floor plans with their order and captions.',
    eventTypes: crud('image'),
    filterFields: ['departmentId', 'estateStatus'],
  },
  {
    key: 'images.write',
    name: 'Write images',
    description: 'Upload and reorder estate photos, e.g. from a photographer’s delivery.',
    eventTypes: [],
    filterFields: [],
  },
  {
    key: 'expenses.read',
    name: 'Read expenses',
    description: 'Outlays and expenses recorded on an estate (marketing, photography, fees).',
    eventTypes: ['expense.created', 'expense.updated'],
    filterFields: ['departmentId'],
  },
  {
    key: 'expenses.write',
    name: 'Write expenses',
    description: 'Record an outlay on an estate, e.g. an invoice for a delivered service.',
    eventTypes: [],
    filterFields: [],
  },
  {
    key: 'checklists.read',
    name: 'Read check-lists',
    description: 'The check-lists of an estate’s sales process and the state of each item.',
    eventTypes: ['checklist.item_completed', 'checklist.completed'],
    filterFields: ['departmentId', 'checklistType'],
  },
  {
    key: 'checklists.write',
    name: 'Write check-lists',
    description: 'Tick off check-list items the partner’s service has taken care of.',
    eventTypes: [],
    filterFields: [],
  },
  {
    key: 'bids.read',
    name: 'Read bids',
    description: 'Bids on estates during a bidding round, with bidder, amount, expiry and outcome.',
    eventTypes: ['bid.created', 'bid.updated', 'bid.accepted', 'bid.rejected'],
    filterFields: ['departmentId', 'estateStatus'],
  },
  {
    key: 'bids.write',
    name: 'Write bids',
    description: 'Register bids from a partner’s bidding service.',
    eventTypes: [],
    filterFields: [],
  },
];

/**
 * Installs the default catalog, inserting only the functions that are missing: an operator's
 * edits (PUT /v1/functions/{key}) survive every restart, and a function added to this list
 * appears on the next one. Idempotent; safe to run concurrently (conflicts are ignored).
 * Returns the keys it inserted.
 */
export async function seedFunctions(db: Db, functions: readonly SeedFunction[] = DEFAULT_FUNCTIONS): Promise<string[]> {
  if (functions.length === 0) return [];
  const rows = (await db('functions')
    .insert(
      functions.map((f) => ({
        key: f.key,
        name: f.name,
        description: f.description,
        event_types: f.eventTypes,
        filter_fields: f.filterFields,
      })),
    )
    .onConflict('key')
    .ignore()
    .returning('key')) as { key: string }[];
  return rows.map((row) => row.key);
}

import type { Db } from '#shared/db/knex';
import type { SubscriptionRow as FullSubscriptionRow } from '#shared/db/rows';
import type { SecretBox } from '#shared/secret-box';
import { activeSecrets } from '#shared/delivery/secrets';
import { effectiveRateLimit } from '#shared/delivery/limits';
import type { Ordering } from '#shared/delivery/ordering';

/** A subscription as the engine needs it: where to send, with which secrets, in which state. */
export interface RoutedSubscription {
  id: string;
  partnerId: string;
  productId: string;
  functionKey: string;
  url: string;
  eventTypes: ReadonlySet<string>;
  state: 'active' | 'paused' | 'disabled';
  /** Current secret first; the previous one too while a rotation overlaps. */
  secrets: string[];
  /** When the previous secret stops signing; the table is reloaded then. */
  secretsChangeAt: number | null;
  /** Requests started per second at most (the lower of the operator's and the partner's limit); null: none. */
  rateLimitPerSecond: number | null;
  /** `entity`: one entity's messages go one at a time, in publication order. */
  ordering: Ordering;
}

/** An event as fan-out matches it. */
export interface MatchableEvent {
  installationId: string;
  type: string;
  data: unknown;
}

type Filters = Record<string, string[]>;

interface RoutedProduct {
  active: boolean;
  availableToAll: boolean;
  installations: ReadonlySet<string>;
}

const key = (...parts: (string | number)[]) => parts.join('\u0000');

/** True when every filtered field of the event's data has one of the allowed values. */
export function filtersMatch(filters: Filters, data: unknown): boolean {
  const fields = Object.entries(filters);
  if (fields.length === 0) return true;
  if (typeof data !== 'object' || data === null) return false;
  const record = data as Record<string, unknown>;
  return fields.every(([field, allowed]) => {
    // Own fields only: `constructor` or `toString` of a plain object is no event field.
    if (!Object.hasOwn(record, field)) return false;
    const value = record[field];
    if (value === undefined || value === null || typeof value === 'object') return false;
    return allowed.includes(String(value));
  });
}

/**
 * Who receives what, held in memory so that matching an event costs no query.
 * Matching rule (docs/architecture.md): subscription S gets event (I, T, D) when S is active (or paused:
 * its messages are kept and held), T is one of S's event types, S's product is active and
 * available to I, I has activated the product at a version granting S's function, and that
 * version's filters for the function match D.
 *
 * Indexed by installation, then product, then event type: matching an event costs the products
 * its installation has activated plus the subscriptions that want its type, however many
 * subscriptions other installations' products have.
 */
export class RoutingTable {
  constructor(
    readonly version: number,
    readonly subscriptions: Map<string, RoutedSubscription>,
    /** installation → product → version activated there. */
    private readonly activations: Map<string, Map<string, number>>,
    /** product → event type → live subscriptions. */
    private readonly byProductType: Map<string, Map<string, RoutedSubscription[]>>,
    private readonly products: Map<string, RoutedProduct>,
    private readonly grants: Map<string, Filters>,
    readonly loadedAt: number,
    /** The earliest moment a rotation's previous secret expires, or Infinity. */
    readonly staleAt: number,
    /** The secrets opened for this table, by their sealed form: the next load opens only new ones. */
    readonly opened: ReadonlyMap<string, string> = new Map(),
  ) {}

  /** True when some subscription could want an event of this type in this installation (no data needed). */
  mayMatch(installationId: string, type: string): boolean {
    const activated = this.activations.get(installationId);
    if (!activated) return false;
    for (const productId of activated.keys()) if (this.byProductType.get(productId)?.has(type)) return true;
    return false;
  }

  /**
   * The subscriptions ordering by entity that this installation's events can reach (any type):
   * after its events are fanned out, their entities' next messages may go. Empty for most.
   */
  orderedFor(installationId: string): RoutedSubscription[] {
    let subs = this.ordered.get(installationId);
    if (subs === undefined) {
      subs = [];
      for (const productId of this.activations.get(installationId)?.keys() ?? []) {
        for (const list of this.byProductType.get(productId)?.values() ?? []) for (const sub of list) if (sub.ordering === 'entity' && !subs.includes(sub)) subs.push(sub);
      }
      this.ordered.set(installationId, subs);
    }
    return subs;
  }

  private readonly ordered = new Map<string, RoutedSubscription[]>();

  /** The subscriptions that must get a message for this event. */
  match(event: MatchableEvent): RoutedSubscription[] {
    const activated = this.activations.get(event.installationId);
    if (!activated) return [];
    const matched: RoutedSubscription[] = [];
    for (const [productId, version] of activated) {
      const candidates = this.byProductType.get(productId)?.get(event.type);
      if (!candidates) continue;
      const product = this.products.get(productId);
      if (!product?.active) continue;
      if (!product.availableToAll && !product.installations.has(event.installationId)) continue;
      for (const sub of candidates) {
        if (sub.state === 'disabled') continue;
        const filters = this.grants.get(key(productId, version, sub.functionKey));
        if (filters === undefined || !filtersMatch(filters, event.data)) continue;
        matched.push(sub);
      }
    }
    return matched;
  }
}

type SubscriptionRow = Pick<
  FullSubscriptionRow,
  | 'id'
  | 'partner_id'
  | 'product_id'
  | 'function_key'
  | 'url'
  | 'event_types'
  | 'state'
  | 'secret_sealed'
  | 'previous_secret_sealed'
  | 'previous_secret_expires_at'
  | 'max_rate_per_second'
  | 'rate_per_second'
  | 'ordering'
>;

/** Subscriptions added to a table being built between two turns of the event loop. */
const BUILD_SLICE = 1_000;

/**
 * Reads the whole routing table from Postgres at the given version. Secrets `previous` opened
 * are taken from it by their sealed form (a sealed secret opens to one plaintext only), and the
 * table is built in slices. Every change to any subscription or product reloads, and so does
 * a table a minute old: with 10,000 subscriptions, opening every secret again and building in
 * one go held the worker's event loop 82-121 ms a reload; now 21-43 ms
 * (scripts/bench/routing-load-cost.ts). Every delivery in flight waited that long.
 */
export async function loadRoutingTable(db: Db, box: SecretBox, version: number, previous: RoutingTable | null = null): Promise<RoutingTable> {
  const now = new Date();
  const opened = new Map<string, string>();
  const open = (sealed: string): string => {
    let plain = previous?.opened.get(sealed) ?? opened.get(sealed);
    plain ??= box.open(sealed);
    opened.set(sealed, plain);
    return plain;
  };
  const rows: SubscriptionRow[] = await db('subscriptions')
    .whereNull('deleted_at')
    .select(
      'id',
      'partner_id',
      'product_id',
      'function_key',
      'url',
      'event_types',
      'state',
      'secret_sealed',
      'previous_secret_sealed',
      'previous_secret_expires_at',
      'max_rate_per_second',
      'rate_per_second',
      'ordering',
    );
  const subscriptions = new Map<string, RoutedSubscription>();
  const byProductType = new Map<string, Map<string, RoutedSubscription[]>>();
  let staleAt = Number.POSITIVE_INFINITY;
  for (const [i, row] of rows.entries()) {
    // Built in slices: deliveries and fan-outs go on between them (the table is not seen until whole).
    if (i > 0 && i % BUILD_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
    const sub: RoutedSubscription = {
      id: row.id,
      partnerId: row.partner_id,
      productId: row.product_id,
      functionKey: row.function_key,
      url: row.url,
      eventTypes: new Set(row.event_types),
      state: row.state,
      secrets: activeSecrets(row, { open }, now),
      secretsChangeAt: row.previous_secret_expires_at && row.previous_secret_expires_at > now ? row.previous_secret_expires_at.getTime() : null,
      rateLimitPerSecond: effectiveRateLimit(row),
      ordering: row.ordering,
    };
    if (sub.secretsChangeAt !== null) staleAt = Math.min(staleAt, sub.secretsChangeAt);
    subscriptions.set(sub.id, sub);
    let byType = byProductType.get(sub.productId);
    if (!byType) byProductType.set(sub.productId, (byType = new Map()));
    for (const type of sub.eventTypes) {
      const list = byType.get(type) ?? [];
      list.push(sub);
      byType.set(type, list);
    }
  }

  const productIds = [...new Set(rows.map((r) => r.product_id))];
  const products = new Map<string, RoutedProduct>();
  const activations = new Map<string, Map<string, number>>();
  const grants = new Map<string, Filters>();
  if (productIds.length > 0) {
    const [productRows, activationRows, grantRows] = await Promise.all([
      db('products')
        .whereIn('id', productIds)
        .select('id', 'status', 'availability_mode', 'availability_installation_ids'),
      db('activations').whereIn('product_id', productIds).select('installation_id', 'product_id', 'version'),
      db('version_functions').whereIn('product_id', productIds).select('product_id', 'version', 'function_key', 'filters'),
    ]);
    for (const p of productRows) {
      products.set(p.id, {
        active: p.status === 'active',
        availableToAll: p.availability_mode === 'all',
        installations: new Set(p.availability_installation_ids as string[]),
      });
    }
    for (const a of activationRows) {
      let activated = activations.get(a.installation_id);
      if (!activated) activations.set(a.installation_id, (activated = new Map()));
      activated.set(a.product_id, a.version);
    }
    for (const g of grantRows) grants.set(key(g.product_id, g.version, g.function_key), (g.filters ?? {}) as Filters);
  }
  return new RoutingTable(version, subscriptions, activations, byProductType, products, grants, Date.now(), staleAt, opened);
}

/** Options of the RoutingCache. */
export interface RoutingCacheOptions {
  /** Reload at least this often even when the version has not moved; default 60 s. */
  maxAgeMs?: number;
  /** Reads the table at a version; default `loadRoutingTable` (tests stall it to show the race). */
  load?: (version: number) => Promise<RoutingTable>;
}

/**
 * Keeps the routing table current. Each `get` reads the trigger-maintained version (one cheap
 * query per fan-out batch) and reloads when it moved, when a rotation's previous secret
 * expired, or when the table is older than `maxAgeMs`.
 *
 * The promise: `get` answers a table at least as new as the version it read. A load is read
 * after its version, so it holds everything committed up to that version (or newer). Callers
 * share a load only when it is of their version or a newer one: one that started before the
 * version moved is older than what the caller saw, so the caller starts its own. The table
 * kept is the newest loaded, whichever load ends first. That is what lets fan-out complete an
 * event (committed before its job was read) and cancel a message whose subscription the table
 * lacks: the table is never older than the event or the message.
 */
export class RoutingCache {
  private table: RoutingTable | null = null;
  private loading: { version: number; promise: Promise<RoutingTable> } | null = null;
  private readonly maxAgeMs: number;
  private readonly load: (version: number) => Promise<RoutingTable>;

  constructor(
    private readonly db: Db,
    box: SecretBox,
    options: RoutingCacheOptions = {},
  ) {
    this.maxAgeMs = options.maxAgeMs ?? 60_000;
    this.load = options.load ?? ((version) => loadRoutingTable(db, box, version, this.table));
  }

  private refresher: NodeJS.Timeout | null = null;

  /**
   * Reads the version every `everyMs` and reloads when it moved, off the events' path: the first
   * fan-out after a change (a subscription made, a product activated) finds the table loaded
   * already instead of waiting for the load (for 10,000 subscriptions, their rows and secrets:
   * a tenth of a second or more). `get` keeps its promise either way; this only warms it.
   * Errors are left to the next `get`, which reports them to its caller.
   */
  startRefreshing(everyMs: number): void {
    if (this.refresher) return;
    this.refresher = setInterval(() => void this.get().catch(() => undefined), everyMs);
    this.refresher.unref();
  }

  stopRefreshing(): void {
    if (this.refresher) clearInterval(this.refresher);
    this.refresher = null;
  }

  /** The newest table loaded so far, without asking Postgres (null before the first load); tables only move forward. */
  peek(): RoutingTable | null {
    return this.table;
  }

  /** The current table: at least as new as the routing version when it was called. */
  async get(): Promise<RoutingTable> {
    const row = await this.db('routing_state').where({ id: 1 }).first('version');
    const version = Number(row?.version ?? 0);
    const now = Date.now();
    const table = this.table;
    if (table && table.version >= version && now - table.loadedAt < this.maxAgeMs && now < table.staleAt) return table;
    const shared = this.loading;
    if (shared && shared.version >= version) return shared.promise;
    const entry = {
      version,
      promise: this.load(version)
        .then((loaded) => {
          if (!this.table || this.table.version <= loaded.version) this.table = loaded;
          return loaded;
        })
        .finally(() => {
          if (this.loading === entry) this.loading = null;
        }),
    };
    this.loading = entry;
    return entry.promise;
  }
}

/**
 * Fixtures for push-subscription tests, written straight to the database so these tests do not
 * depend on the portal routes: a partner with an API key, catalog functions, a product with
 * versions granting functions, and real loopback receivers that record what they get.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Knex } from '#shared/db/knex';
import { newId, randomText } from '#shared/ids';
import { createPartner } from '#api/partners/service';

/** A partner and its contact person's API key. */
export interface PartnerFixture {
  partnerId: string;
  userId: string;
  apiKey: string;
}

/** Creates a partner (and its contact user with an API key) through the partner service. */
export async function createPartnerFixture(db: Knex, name = `Partner ${randomText(6)}`): Promise<PartnerFixture> {
  const made = await db.transaction((trx) => createPartner(trx, { name, contactEmail: `contact-${randomText(8)}@partner.test` }));
  return { partnerId: made.partner.id, userId: made.user.id, apiKey: made.apiKey };
}

/** Inserts (or replaces) a catalog function; `eventTypes` empty makes it not pushable. */
export async function upsertFunction(
  db: Knex,
  fn: { key: string; name?: string; eventTypes?: string[]; filterFields?: string[] },
): Promise<void> {
  await db('functions')
    .insert({ key: fn.key, name: fn.name ?? fn.key, event_types: fn.eventTypes ?? [], filter_fields: fn.filterFields ?? [] })
    .onConflict('key')
    .merge();
}

/** Per version (1, 2, ...): the functions it grants and their filters. */
export type VersionGrants = Array<Record<string, Record<string, unknown[]>>>;

/** Creates a product of the partner with the given versions (draft, as the portal leaves them); returns its id. */
export async function createProductFixture(db: Knex, partnerId: string, versions: VersionGrants, name = `Product ${randomText(6)}`): Promise<string> {
  const id = newId('product');
  await db.transaction(async (trx) => {
    await trx('products').insert({ id, partner_id: partnerId, name, type: 'rights' });
    for (const [i, grants] of versions.entries()) {
      await trx('product_versions').insert({ product_id: id, number: i + 1 });
      for (const [functionKey, filters] of Object.entries(grants)) {
        await trx('version_functions').insert({ product_id: id, version: i + 1, function_key: functionKey, filters: JSON.stringify(filters) });
      }
    }
  });
  return id;
}

/** The catalog the push tests use: a pushable estates function and a non-pushable one. */
export const PUSHABLE = 'estates.read';
export const PUSHABLE_EVENTS = ['estate.created', 'estate.updated', 'estate.deleted'];
export const NOT_PUSHABLE = 'contacts.write';
export const UNGRANTED = 'appointments.read';

/** A partner with a product whose latest version grants PUSHABLE (filtered by department) and NOT_PUSHABLE. */
export async function pushSetup(db: Knex): Promise<PartnerFixture & { productId: string }> {
  await upsertFunction(db, { key: PUSHABLE, eventTypes: PUSHABLE_EVENTS, filterFields: ['departmentId', 'estateStatus'] });
  await upsertFunction(db, { key: NOT_PUSHABLE });
  await upsertFunction(db, { key: UNGRANTED, eventTypes: ['appointment.created'] });
  const partner = await createPartnerFixture(db);
  const productId = await createProductFixture(db, partner.partnerId, [
    // Version 1 granted the appointments function; the latest (2) no longer does.
    { [UNGRANTED]: {} },
    { [PUSHABLE]: { departmentId: ['dep-42'] }, [NOT_PUSHABLE]: {} },
  ]);
  return { ...partner, productId };
}

/** One request a receiver got. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** How a receiver answers; the default answers 200 `ok`. */
export type Responder = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/** A real HTTP receiver on 127.0.0.1 (random port). */
export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

/** Starts a loopback receiver that records every request and answers through `respond`. */
export async function startReceiver(respond: Responder = (_req, res) => res.end('ok')): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      respond(req, res, body);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        // Hanging responders keep sockets open: cut them so the test ends now.
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port with nothing listening on it (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

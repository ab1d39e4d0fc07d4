/**
 * The benchmark's comparison row: the webhook sender a Node team would usually write, run on
 * the same machine against the same receiver, Postgres and Redis as hubhook.
 *
 * It is small and idiomatic, not a strawman: an express ingest that commits the events and adds
 * one BullMQ fan-out job per batch; the fan-out inserts one row per message and adds one BullMQ
 * job per message; a delivery worker (concurrency 256, like the bench's hubhook worker) loads the
 * message and its subscription, signs with `standardwebhooks`, POSTs with got over a keep-alive
 * agent, and writes one attempt row and the message's new status. Failures are BullMQ retries.
 *
 * `node --import tsx plain-peer.ts api|worker`, configured by environment: DATABASE_URL (with
 * its search_path), REDIS_URL, QUEUE_PREFIX, PORT (api). The api prints `{"port":N}` when
 * listening, the worker `{"ready":true}`; both exit on SIGTERM.
 */
import { Agent as HttpAgent } from 'node:http';
import express from 'express';
import got from 'got';
import pg from 'pg';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';

const role = process.argv[2];
const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`plain-peer: ${name} is required`);
  return value;
};
const prefix = env('QUEUE_PREFIX');
const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 20 });
const connection = new Redis(env('REDIS_URL'), { maxRetriesPerRequest: null });

/** The peer's own tables, in the schema its DATABASE_URL names; the worker makes them. */
const SCHEMA_SQL = `
  create table if not exists peer_subscriptions (id text primary key, url text not null, secret text not null);
  create table if not exists peer_events (id text primary key, payload jsonb not null, created_at timestamptz not null default now());
  create table if not exists peer_messages (
    id bigserial primary key, event_id text not null references peer_events(id),
    subscription_id text not null references peer_subscriptions(id),
    status text not null default 'pending', attempts int not null default 0, updated_at timestamptz not null default now());
  create table if not exists peer_attempts (
    id bigserial primary key, message_id bigint not null references peer_messages(id),
    status_code int, response text, error text, created_at timestamptz not null default now());
  create index if not exists peer_messages_status on peer_messages (status);
`;

type Event = { id: string; [key: string]: unknown };

async function runApi(): Promise<void> {
  const fanout = new Queue('peer-fanout', { connection, prefix });
  const app = express();
  app.use(express.json({ limit: '2mb' }));
  app.post('/events', async (req, res) => {
    const events = (req.body as { events: Event[] }).events;
    await pool.query(
      'insert into peer_events (id, payload) select e->>$2, e from jsonb_array_elements($1::jsonb) e on conflict do nothing',
      [JSON.stringify(events), 'id'],
    );
    await fanout.add('fanout', { eventIds: events.map((e) => e.id) }, { removeOnComplete: true });
    res.status(202).json({ accepted: events.length });
  });
  const server = app.listen(Number(env('PORT')), '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: Number(env('PORT')) })}\n`));
  process.on('SIGTERM', () => server.close(() => void Promise.all([fanout.close(), pool.end()]).then(() => process.exit(0))));
}

async function runWorker(): Promise<void> {
  await pool.query(SCHEMA_SQL);
  const deliver = new Queue('peer-deliver', { connection, prefix });
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 256 });
  const fanoutWorker = new Worker<{ eventIds: string[] }>(
    'peer-fanout',
    async (job) => {
      // Every subscription gets every event: the bench's subscriptions all want its one type.
      const { rows } = await pool.query<{ id: string }>(
        `insert into peer_messages (event_id, subscription_id)
         select e.id, s.id from peer_events e cross join peer_subscriptions s where e.id = any($1) returning id`,
        [job.data.eventIds],
      );
      await deliver.addBulk(
        rows.map((row) => ({ name: 'deliver', data: { messageId: row.id }, opts: { attempts: 8, backoff: { type: 'exponential', delay: 5_000 }, removeOnComplete: true } })),
      );
    },
    { connection: connection.duplicate(), prefix, concurrency: 4 },
  );
  const deliverWorker = new Worker<{ messageId: string }>(
    'peer-deliver',
    async (job) => {
      const { rows } = await pool.query<{ id: string; url: string; secret: string; payload: Event; created_at: Date }>(
        `select m.id, s.url, s.secret, e.payload, e.created_at from peer_messages m
         join peer_subscriptions s on s.id = m.subscription_id join peer_events e on e.id = m.event_id where m.id = $1`,
        [job.data.messageId],
      );
      const message = rows[0]!;
      const body = JSON.stringify({ type: message.payload.type, timestamp: message.created_at.toISOString(), data: message.payload });
      const msgId = `msg_${message.id}`;
      const now = new Date();
      const signature = new Webhook(message.secret).sign(msgId, now, body);
      let statusCode: number | null = null;
      let response: string | null = null;
      let error: string | null = null;
      try {
        const res = await got.post(message.url, {
          body,
          headers: {
            'content-type': 'application/json',
            'webhook-id': msgId,
            'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
            'webhook-signature': signature,
          },
          agent: { http: agent },
          timeout: { request: 15_000 },
          retry: { limit: 0 },
          throwHttpErrors: false,
          followRedirect: false,
        });
        statusCode = res.statusCode;
        response = res.body.slice(0, 2048);
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
      }
      const ok = statusCode !== null && statusCode >= 200 && statusCode < 300;
      await pool.query('insert into peer_attempts (message_id, status_code, response, error) values ($1, $2, $3, $4)', [message.id, statusCode, response, error]);
      await pool.query('update peer_messages set status = $2, attempts = attempts + 1, updated_at = now() where id = $1', [message.id, ok ? 'succeeded' : 'failing']);
      if (!ok) throw new Error(`receiver answered ${statusCode ?? error}`);
    },
    { connection: connection.duplicate(), prefix, concurrency: 256 },
  );
  await Promise.all([fanoutWorker.waitUntilReady(), deliverWorker.waitUntilReady()]);
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  process.on('SIGTERM', () => {
    void Promise.all([fanoutWorker.close(), deliverWorker.close(), deliver.close()])
      .then(() => pool.end())
      .then(() => process.exit(0));
  });
}

if (role === 'api') await runApi();
else if (role === 'worker') await runWorker();
else throw new Error('plain-peer: say api or worker');

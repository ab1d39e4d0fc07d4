/**
 * Raw keep-alive POST throughput of the HTTP clients the delivery transport could be built on,
 * and of the transport itself, against a loopback receiver running in its own process.
 *
 *   cd /work/main && node --import tsx scripts/bench/raw-post.ts \
 *     [--duration-ms 4000] [--slice-ms 500] [--warmup-ms 1000] [--concurrency 64]
 *
 * Each client POSTs 1 KiB JSON bodies with a fixed number of requests in flight: first a
 * warm-up that is not counted, then `duration-ms` of measured load, taken in `slice-ms` turns
 * that rotate through the clients. On a 2-core box shared with other work, load from elsewhere
 * comes and goes in bursts of seconds; interleaving spreads each burst over all clients
 * instead of handing it to whichever ran at the time. The table gives req/s, the ratio to the
 * fastest client (the transport should reach >= 80 %), and the client process's CPU time per
 * request, which other load hardly moves.
 * `measureRawPost` gives the node:http figure to later benchmarks as a machine baseline.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import got from 'got';
import { Agent, Pool, request } from 'undici';
// Relative, not #shared/*: this script is run without --conditions=source.
import { createTransport } from '../../shared/http/transport.ts';

/** Settings of one load run. */
export interface LoadOptions {
  /** Requests kept in flight. */
  concurrency?: number;
  /** Length of the measured window. */
  durationMs?: number;
  /** Uncounted run before the window, to open sockets and warm the JIT. */
  warmupMs?: number;
}

/** Options of `measureRawPost`: a receiver URL (default: start one) and the load settings. */
export interface RawPostOptions extends LoadOptions {
  url?: string;
}

/** One client under test: sends one POST and resolves once its response has been read. */
interface Client {
  name: string;
  send(): Promise<unknown>;
  close(): Promise<unknown>;
}

const DEFAULT_LOAD = { concurrency: 64, durationMs: 4_000, warmupMs: 1_000 } satisfies LoadOptions;
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RECEIVER = fileURLToPath(new URL('./counting-receiver.ts', import.meta.url));

/** A JSON webhook-like payload of exactly 1024 bytes. */
export const BODY_1KIB = (() => {
  const head = { type: 'estate.updated', eventId: 'evt_bench', installationId: 'MSVPAR', pad: '' };
  head.pad = 'x'.repeat(1024 - JSON.stringify(head).length);
  return JSON.stringify(head);
})();
const HEADERS = { 'content-type': 'application/json' };

/** Starts `counting-receiver.ts` (the end-to-end bench's receiver, so both measure against the same one) in a child process; resolves with its URL and a stop function. */
export async function startReceiver(): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', RECEIVER], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`receiver exited early with code ${code}`)));
  });
  lines.close();
  return {
    url: `http://127.0.0.1:${port}/hook`,
    async stop() {
      child.stdin.end();
      await exited;
    },
  };
}

/** What one load run measured: requests completed in the window, its length, and client CPU time. */
export interface LoadResult {
  requests: number;
  elapsedMs: number;
  cpuUs: number;
}

/** Runs `send` with `concurrency` requests in flight; measures the window after the warm-up. */
export async function runLoad(send: () => Promise<unknown>, load: LoadOptions = {}): Promise<LoadResult> {
  const { concurrency, durationMs, warmupMs } = { ...DEFAULT_LOAD, ...load };
  let phase: 'warmup' | 'measure' | 'stop' = 'warmup';
  let completed = 0;
  const worker = async (): Promise<void> => {
    while (phase !== 'stop') {
      await send();
      if (phase === 'measure') completed++;
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  if (warmupMs > 0) await sleep(warmupMs);
  phase = 'measure';
  const startedAt = performance.now();
  const cpuBefore = process.cpuUsage();
  await sleep(durationMs);
  const cpu = process.cpuUsage(cpuBefore);
  const result = { requests: completed, elapsedMs: performance.now() - startedAt, cpuUs: cpu.user + cpu.system };
  phase = 'stop';
  await Promise.all(workers);
  return result;
}

/** node:http with a keep-alive Agent of `maxSockets` sockets. */
function nodeHttpClient(url: string, maxSockets: number): Client {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const target = new URL(url);
  const headers = { ...HEADERS, 'content-length': String(Buffer.byteLength(BODY_1KIB)) };
  return {
    name: 'node:http keep-alive Agent',
    send: () =>
      new Promise<void>((resolve, reject) => {
        const req = http.request(
          { agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers },
          (res) => res.resume().once('end', resolve).once('error', reject),
        );
        req.once('error', reject).end(BODY_1KIB);
      }),
    close: async () => agent.destroy(),
  };
}

/** undici Pool on the receiver's origin. */
function undiciPoolClient(url: string, connections: number): Client {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections });
  return {
    name: 'undici Pool',
    send: async () => {
      const res = await pool.request({ path: target.pathname, method: 'POST', headers: HEADERS, body: BODY_1KIB });
      await res.body.dump();
    },
    close: () => pool.close(),
  };
}

/** undici `request` through an Agent. */
function undiciRequestClient(url: string, connections: number): Client {
  const dispatcher = new Agent({ connections });
  return {
    name: 'undici request + Agent',
    send: async () => {
      const res = await request(url, { dispatcher, method: 'POST', headers: HEADERS, body: BODY_1KIB });
      await res.body.dump();
    },
    close: () => dispatcher.close(),
  };
}

/** got with a keep-alive node:http Agent, no retries. */
function gotClient(url: string, maxSockets: number): Client {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const client = got.extend({ agent: { http: agent }, retry: { limit: 0 }, headers: HEADERS });
  return {
    name: 'got',
    send: () => client.post(url, { body: BODY_1KIB }),
    close: async () => agent.destroy(),
  };
}

/** The delivery transport of shared/http/transport.ts. */
function transportClient(url: string, connectionsPerOrigin: number, name: string): Client {
  const transport = createTransport({ connectionsPerOrigin });
  return {
    name,
    send: async () => {
      const result = await transport.post(url, BODY_1KIB, HEADERS);
      if (result.kind === 'error') throw new Error(`${result.error}: ${result.message}`);
    },
    close: () => transport.close(),
  };
}

/** Measures keep-alive POST req/s of node:http (64 sockets) against `opts.url`, or a receiver started for it. */
export async function measureRawPost(opts: RawPostOptions = {}): Promise<number> {
  const { url, ...load } = opts;
  const receiver = url === undefined ? await startReceiver() : undefined;
  const client = nodeHttpClient(url ?? receiver!.url, load.concurrency ?? DEFAULT_LOAD.concurrency);
  try {
    const { requests, elapsedMs } = await runLoad(client.send, load);
    return (requests * 1000) / elapsedMs;
  } finally {
    await client.close();
    await receiver?.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'duration-ms': { type: 'string', default: String(DEFAULT_LOAD.durationMs) },
      'slice-ms': { type: 'string', default: '500' },
      'warmup-ms': { type: 'string', default: String(DEFAULT_LOAD.warmupMs) },
      concurrency: { type: 'string', default: String(DEFAULT_LOAD.concurrency) },
    },
  });
  const durationMs = Number(values['duration-ms']);
  const sliceMs = Number(values['slice-ms']);
  const warmupMs = Number(values['warmup-ms']);
  const concurrency = Number(values.concurrency);
  console.log(
    `POST ${BODY_1KIB.length} B JSON, ${concurrency} in flight, per client ${warmupMs} ms warm-up ` +
      `then ${durationMs} ms measured in ${sliceMs} ms turns`,
  );

  const receiver = await startReceiver();
  const clients = [
    nodeHttpClient(receiver.url, concurrency),
    undiciPoolClient(receiver.url, concurrency),
    undiciRequestClient(receiver.url, concurrency),
    gotClient(receiver.url, concurrency),
    transportClient(receiver.url, concurrency, `hubhook transport (${concurrency} conns)`),
    transportClient(receiver.url, 16, 'hubhook transport (16 conns, default)'),
  ];
  const totals = clients.map(() => ({ requests: 0, elapsedMs: 0, cpuUs: 0 }));
  try {
    for (const client of clients) await runLoad(client.send, { concurrency, warmupMs, durationMs: 0 });
    const turns = Math.ceil(durationMs / sliceMs);
    for (let turn = 0; turn < turns; turn++) {
      // Rotate the order so that no client always follows the same one.
      for (let k = 0; k < clients.length; k++) {
        const i = (turn + k) % clients.length;
        const slice = await runLoad(clients[i]!.send, { concurrency, warmupMs: 0, durationMs: sliceMs });
        const total = totals[i]!;
        total.requests += slice.requests;
        total.elapsedMs += slice.elapsedMs;
        total.cpuUs += slice.cpuUs;
      }
      process.stdout.write('.');
    }
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await receiver.stop();
  }
  process.stdout.write('\n');

  const rows = clients.map((client, i) => {
    const { requests, elapsedMs, cpuUs } = totals[i]!;
    return { client: client.name, rps: (requests * 1000) / elapsedMs, cpuUsPerRequest: cpuUs / requests };
  });
  const fastest = Math.max(...rows.map((row) => row.rps));
  console.table(
    rows.map((row) => ({
      client: row.client,
      'req/s': Math.round(row.rps),
      'vs fastest': `${((row.rps / fastest) * 100).toFixed(0)} %`,
      'client CPU µs/req': Math.round(row.cpuUsPerRequest),
    })),
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}

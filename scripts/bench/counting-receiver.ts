/**
 * Benchmark receiver, in its own process: answers 200 (or 500 under /fail), counts requests,
 * and, when a body's data carries `sentAt` (ms since epoch), records the latency from the
 * publisher to here. `GET /_stats` answers the count and latency percentiles; `POST /_reset`
 * clears them. Prints `{"port":N}` when listening; exits on SIGTERM or when stdin closes.
 */
import { createServer } from 'node:http';

let count = 0;
/** When the first counted request since the reset ended (ms since epoch). */
let firstAt: number | null = null;
let latencies: number[] = [];
let recordLatency = false;

const percentile = (sorted: number[], p: number) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);

const server = createServer((req, res) => {
  if (req.url === '/_stats') {
    const sorted = [...latencies].sort((a, b) => a - b);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ count, firstAt, samples: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? null }));
    return;
  }
  if (req.url?.startsWith('/_reset')) {
    count = 0;
    firstAt = null;
    latencies = [];
    recordLatency = req.url.includes('latency=1');
    req.resume();
    res.end('reset');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => {
    if (recordLatency) chunks.push(c);
  });
  req.on('end', () => {
    count++;
    firstAt ??= Date.now();
    if (recordLatency) {
      const sentAt = (JSON.parse(Buffer.concat(chunks).toString()) as { data?: { sentAt?: number } }).data?.sentAt;
      if (typeof sentAt === 'number') latencies.push(Date.now() - sentAt);
    }
    const fail = req.url?.startsWith('/fail') === true;
    res.writeHead(fail ? 500 : 200, { 'content-type': 'text/plain', 'content-length': '2' });
    res.end('ok');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('receiver: no TCP address');
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
});
const stop = (): void => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.stdin.on('end', stop).resume();
process.on('SIGTERM', stop);

/**
 * Minimal keep-alive webhook receiver for benchmarks: answers every request `200 ok` once its
 * body has arrived. Runs as its own process (see `startReceiver` in raw-post.ts) so that it
 * does not share an event loop with the client being measured. Prints `{"port":N}` on stdout
 * when listening; exits when its parent closes stdin or sends SIGTERM.
 */
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    res.end('ok');
  });
});
// Idle keep-alive sockets outlive every pause a benchmark makes between phases.
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

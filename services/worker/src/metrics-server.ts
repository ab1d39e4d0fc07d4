import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from '#shared/metrics';
import { safeEqual } from '#shared/tokens';

/** A listening metrics endpoint of a worker process. */
export interface MetricsServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/**
 * Serves a worker's metrics: `GET /metrics` (Prometheus text; the operator token as a bearer,
 * like the api's) and `GET /healthz` (liveness, no token). Workers have no api of their own,
 * so this small server is how Prometheus reaches the delivery counters.
 * Failure policy: fail closed; anything but the operator token is 401.
 */
export async function startMetricsServer(metrics: Metrics, options: { port: number; host?: string; operatorToken: string }): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/healthz')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'route_not_found', message: 'no such route', details: [] } }));
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!match || !safeEqual(match[1]!, options.operatorToken)) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'unauthorized', message: 'a valid bearer token is required', details: [] } }));
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"code":"internal","message":"internal error","details":[]}}'),
    );
  });
  server.keepAliveTimeout = 5_000;
  const host = options.host ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://${host === '0.0.0.0' ? 'localhost' : host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

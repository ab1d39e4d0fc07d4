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

/** What the worker says about itself: whether it does its work, and what is wrong if not. */
export interface WorkerHealth {
  ok: boolean;
  /** Shown as they are; must hold no secret. */
  details: Record<string, unknown>;
}

/** Options of `startMetricsServer`. */
export interface MetricsServerOptions {
  port: number;
  host?: string;
  operatorToken: string;
  /** The worker's health; default always ok. */
  health?: () => WorkerHealth;
}

/**
 * Serves a worker's metrics: `GET /metrics` (Prometheus text; the operator token as a bearer,
 * like the api's), `GET /healthz` (liveness, no token) and `GET /readyz` (no token). Workers
 * have no api of their own, so this small server is how Prometheus reaches the delivery counters.
 * A worker that cannot do its work (its attempt writer cannot commit) stays alive, as
 * restarting it would help nothing and drop the outcomes it holds: /healthz answers 200 with
 * `status: "degraded"` and the details, /readyz answers 503 with the same body.
 * Failure policy: fail closed; anything but the operator token is 401 on /metrics.
 */
export async function startMetricsServer(metrics: Metrics, options: MetricsServerOptions): Promise<MetricsServer> {
  const health = options.health ?? (() => ({ ok: true, details: {} }));
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/healthz' && path !== '/readyz')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'route_not_found', message: 'no such route', details: [] } }));
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const { ok, details } = health();
      const status = ok || path === '/healthz' ? 200 : 503;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ok' : 'degraded', ...details }));
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

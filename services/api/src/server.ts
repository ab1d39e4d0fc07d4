import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from '#shared/metrics';
import { createApp } from './app.ts';
import type { AppDeps } from './deps.ts';

/** A listening api: its URL and a close that stops taking requests and waits for those in flight. */
export interface RunningApi {
  server: Server;
  url: string;
  /** The metrics served at /metrics (tests read values from it). */
  metrics: Metrics;
  close(): Promise<void>;
}

/** Starts the api on `port` (0 picks a free one) on `host`. */
export async function startApi(deps: AppDeps, port: number, host = '0.0.0.0'): Promise<RunningApi> {
  const { app, metrics } = createApp(deps);
  const server = createServer(app);
  // Idle keep-alive sockets must not hold a shutdown open for the client's idle timeout.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return {
    server,
    metrics,
    url: `http://${shownHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

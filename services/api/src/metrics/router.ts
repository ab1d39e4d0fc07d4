import type { Metrics } from '#shared/metrics';
import type { ApiRoutes } from '../http/route.ts';

/**
 * `GET /metrics`: the Prometheus text exposition of this process's registry. It asks for the
 * operator token (Prometheus sends it with `authorization: {credentials_file: ...}` in the
 * scrape config): metric names and counts say how busy partners are, so they are not public.
 */
export function registerMetricsRoutes(api: ApiRoutes, metrics: Metrics): void {
  api.add({
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    auth: ['operator'],
    summary: 'Prometheus metrics (text exposition format)',
    tags: ['ops'],
    responses: { 200: 'Prometheus text format 0.0.4 (`text/plain; version=0.0.4`)' },
    handler: async ({ res }) => {
      const text = await metrics.registry.metrics();
      res.status(200).type(metrics.registry.contentType).send(text);
      return { status: 200 };
    },
  });
}

import type { AppDeps } from '../app.ts';
import { recordAudit } from '../audit/audit.ts';
import type { ApiRoutes } from '../http/route.ts';
import { QueueList, QueueParams } from './schema.ts';
import { findQueue, listQueueStats } from './service.ts';

/** Operators' queue and delivery repair routes (`/v1/ops/...`). */
export function registerOpsRoutes(api: ApiRoutes, deps: AppDeps): void {
  api.add({
    method: 'get',
    path: '/v1/ops/queues',
    auth: ['operator'],
    summary: 'Job counts per state of every queue, and whether it is paused',
    tags: ['ops'],
    responses: { 200: QueueList },
    handler: async () => ({ status: 200, body: { data: await listQueueStats(deps.queues) } }),
  });

  for (const action of ['pause', 'resume'] as const) {
    api.add({
      method: 'post',
      path: `/v1/ops/queues/:name/${action}`,
      auth: ['operator'],
      summary:
        action === 'pause'
          ? 'Pause a queue: workers finish active jobs and take no new ones; jobs keep arriving and wait'
          : 'Resume a paused queue',
      tags: ['ops'],
      params: QueueParams,
      responses: { 204: action === 'pause' ? 'Paused (also when it already was)' : 'Resumed', 404: 'No queue of that name' },
      handler: async ({ req, params, principal }) => {
        const queue = findQueue(deps.queues, params.name);
        // Pausing is global (a flag in Redis): every worker of every process sees it.
        if (action === 'pause') await queue.pause();
        else await queue.resume();
        // Redis has no transaction with Postgres; the audit row follows the change it records.
        await recordAudit(deps.db, req, principal, { action: `queue.${action}`, targetType: 'queue', targetId: queue.name });
        return { status: 204 };
      },
    });
  }
}

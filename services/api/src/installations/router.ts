import { created, type ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { PageQuery, pageOf } from '../http/pagination.ts';
import { CreateInstallationBody, Installation } from './schema.ts';
import { createInstallation, getInstallation, listInstallations } from './service.ts';
import { z } from 'zod';

/** Operator routes: register and list customer installations. */
export function registerInstallationRoutes(api: ApiRoutes, deps: AppDeps): void {
  api.add({
    method: 'post',
    path: '/v1/installations',
    operationId: 'createInstallation',
    auth: ['operator'],
    summary: 'Register an installation (its InstallationID is stored upper-case)',
    tags: ['installations'],
    body: CreateInstallationBody,
    responses: { 201: Installation, 400: 'invalid input', 409: 'the InstallationID exists' },
    handler: async ({ actor, body }) => {
      const made = await createInstallation(deps.db, actor, body);
      return created(`/v1/installations/${made.installationId}`, made);
    },
  });

  api.add({
    method: 'get',
    path: '/v1/installations/:installationId',
    operationId: 'getInstallation',
    auth: ['operator'],
    summary: 'One installation (the URL a create answers in Location)',
    tags: ['installations'],
    params: z.object({ installationId: z.string() }),
    responses: { 200: Installation, 404: 'no such installation' },
    handler: async ({ params }) => {
      return { status: 200, body: await getInstallation(deps.db, params.installationId) };
    },
  });

  api.add({
    method: 'get',
    path: '/v1/installations',
    operationId: 'listInstallations',
    auth: ['operator'],
    summary: 'List installations by InstallationID',
    tags: ['installations'],
    query: PageQuery,
    responses: { 200: pageOf(Installation) },
    handler: async ({ query }) => ({ status: 200, body: await listInstallations(deps.db, query) }),
  });
}

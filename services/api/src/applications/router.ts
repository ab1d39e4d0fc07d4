import { dispatchMail } from '#shared/mail/outbox';
import type { ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { clientAddress } from '../http/client-address.ts';
import {
  Application,
  ApplicationPage,
  ApplicationParams,
  ApplicationReceived,
  ApprovedApplication,
  CreateApplicationBody,
  ListApplicationsQuery,
  RejectApplicationBody,
} from './schema.ts';
import { approveApplication, getApplication, listApplications, rejectApplication, submitApplication } from './service.ts';


/** Access applications: anyone applies; operators list, approve and reject. */
export function registerApplicationRoutes(api: ApiRoutes, deps: AppDeps): void {
  const { limits } = api;

  api.add({
    method: 'post',
    path: '/v1/applications',
    operationId: 'submitApplication',
    auth: ['public'],
    summary: 'Apply for partner access',
    tags: ['onboarding'],
    body: CreateApplicationBody,
    responses: { 202: ApplicationReceived, 400: 'a field is missing or malformed', 429: 'too many applications from this address; see Retry-After' },
    rateLimited: true,
    handler: async ({ req, res, body }) => {
      await limits.enforce('applications', clientAddress(req), deps.config.rateLimits.applicationsPerClient, res);
      const application = await submitApplication(deps.db, body);
      return { status: 202, body: { id: application.id, status: 'pending' } };
    },
  });

  api.add({
    method: 'get',
    path: '/v1/applications',
    operationId: 'listApplications',
    auth: ['operator'],
    summary: 'List access applications, newest first',
    tags: ['onboarding'],
    query: ListApplicationsQuery,
    responses: { 200: ApplicationPage },
    handler: async ({ query }) => ({ status: 200, body: await listApplications(deps.db, query) }),
  });

  api.add({
    method: 'get',
    path: '/v1/applications/:applicationId',
    operationId: 'getApplication',
    auth: ['operator'],
    summary: 'One access application',
    tags: ['onboarding'],
    params: ApplicationParams,
    responses: { 200: Application, 404: 'no such application' },
    handler: async ({ params }) => ({ status: 200, body: await getApplication(deps.db, params.applicationId) }),
  });

  api.add({
    method: 'post',
    path: '/v1/applications/:applicationId/approve',
    operationId: 'approveApplication',
    auth: ['operator'],
    summary: 'Approve an application: creates the partner and its contact person, who is e-mailed how to sign in',
    tags: ['onboarding'],
    params: ApplicationParams,
    responses: {
      200: ApprovedApplication,
      404: 'no such application',
      409: 'already decided (application_decided), or the company name is taken (partner_exists)',
    },
    handler: async ({ actor, params }) => {
      const { result, mailId } = await approveApplication(deps.db, actor, params.applicationId, deps.config.publicUrl);
      dispatchMail(deps.queues, [mailId], actor.log);
      return { status: 200, body: result };
    },
  });

  api.add({
    method: 'post',
    path: '/v1/applications/:applicationId/reject',
    operationId: 'rejectApplication',
    auth: ['operator'],
    summary: 'Reject an application with a reason; the applicant is e-mailed it',
    tags: ['onboarding'],
    params: ApplicationParams,
    body: RejectApplicationBody,
    responses: { 200: Application, 404: 'no such application', 409: 'already decided (application_decided)' },
    handler: async ({ actor, params, body }) => {
      const { result, mailId } = await rejectApplication(deps.db, actor, params.applicationId, body.reason);
      dispatchMail(deps.queues, [mailId], actor.log);
      return { status: 200, body: result };
    },
  });
}

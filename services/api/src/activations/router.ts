import { z } from 'zod';
import type { ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { PageQuery, pageOf } from '../http/pagination.ts';
import { InstallationParams, InstallationProduct, InstallationProductParams, UpgradeBody, UpgradeDiff } from './schema.ts';
import { Notification } from '../notifications/schema.ts';
import { PARTNER_TEST_INSTALLATION } from '../products/version-rule.ts';

const ProductParams = z.object({ productId: z.string() });
import {
  activateProduct,
  deactivateProduct,
  getUpgrade,
  listInstallationNotifications,
  listInstallationProducts,
  upgradeProduct,
} from './service.ts';

const tags = ['installations'];
// 400, 401 and 403 are documented for every route by the route machinery.
const errors = { 404: 'no such installation or product' };
const notOffered = '`product_inactive` (no active version) or `not_available` (restricted to other installations)';

/** HUB routes acting for an installation's administrator. */
export function registerActivationRoutes(api: ApiRoutes, deps: AppDeps): void {
  api.add({
    method: 'get',
    path: '/v1/installations/:installationId/products',
    operationId: 'listInstallationProducts',
    auth: ['hub'],
    summary: 'Products available to the installation, with its activation; upgradable first',
    tags,
    params: InstallationParams,
    query: PageQuery,
    responses: { 200: pageOf(InstallationProduct), ...errors },
    handler: async ({ params, query }) => ({ status: 200, body: await listInstallationProducts(deps.db, params.installationId, query) }),
  });

  api.add({
    method: 'post',
    path: '/v1/installations/:installationId/products/:productId/activate',
    operationId: 'activateInstallationProduct',
    auth: ['hub'],
    summary: 'Activate the product for the installation at its active version',
    tags,
    params: InstallationProductParams,
    responses: { 200: InstallationProduct, ...errors, 409: notOffered },
    handler: async ({ actor, params }) => ({
      status: 200,
      body: await activateProduct({ db: deps.db, actor }, params.installationId, params.productId),
    }),
  });

  api.add({
    method: 'get',
    path: '/v1/installations/:installationId/products/:productId/upgrade',
    operationId: 'getInstallationProductUpgrade',
    auth: ['hub'],
    summary: 'What upgrading to the active version changes',
    tags,
    params: InstallationProductParams,
    responses: { 200: UpgradeDiff, ...errors, 409: notOffered },
    handler: async ({ params }) => ({ status: 200, body: await getUpgrade(deps.db, params.installationId, params.productId) }),
  });

  api.add({
    method: 'post',
    path: '/v1/installations/:installationId/products/:productId/upgrade',
    operationId: 'upgradeInstallationProduct',
    auth: ['hub'],
    summary: 'Confirm the upgrade: the installation now grants the active version',
    tags,
    params: InstallationProductParams,
    body: UpgradeBody,
    responses: {
      200: InstallationProduct,
      ...errors,
      409: `${notOffered}, \`no_upgrade_available\`, or \`upgrade_target_changed\` (body.version is no longer the active one)`,
    },
    handler: async ({ actor, params, body }) => ({
      status: 200,
      body: await upgradeProduct({ db: deps.db, actor }, params.installationId, params.productId, body),
    }),
  });

  api.add({
    method: 'delete',
    path: '/v1/installations/:installationId/products/:productId',
    operationId: 'deactivateInstallationProduct',
    auth: ['hub'],
    summary: 'Deactivate the product for the installation',
    tags,
    params: InstallationProductParams,
    responses: { 204: 'deactivated', ...errors },
    handler: async ({ actor, params }) => {
      await deactivateProduct({ db: deps.db, actor }, params.installationId, params.productId);
      return { status: 204 };
    },
  });

  api.add({
    method: 'get',
    path: '/v1/installations/:installationId/notifications',
    operationId: 'listInstallationNotifications',
    auth: ['hub'],
    summary: 'Notices for the installation’s administrators (upgrade available), newest first',
    tags,
    params: InstallationParams,
    query: PageQuery,
    responses: { 200: pageOf(Notification), ...errors },
    handler: async ({ params, query }) => ({ status: 200, body: await listInstallationNotifications(deps.db, params.installationId, query) }),
  });

  api.add({
    method: 'post',
    path: '/v1/ops/products/:productId/activate-test',
    operationId: 'activateTestProduct',
    auth: ['operator'],
    summary: `Activate a partner's product in the partner test installation ${PARTNER_TEST_INSTALLATION} at its active version (the portal's "contact us and we will activate it")`,
    tags: ['ops', ...tags],
    params: ProductParams,
    responses: { 200: InstallationProduct, 404: 'no such product', 409: notOffered },
    handler: async ({ actor, params }) => ({
      status: 200,
      body: await activateProduct({ db: deps.db, actor }, PARTNER_TEST_INSTALLATION, params.productId),
    }),
  });
}

import type { PartnerActor } from '../http/actor.ts';
import { created, type ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import {
  CreateProductBody,
  CreatedProduct,
  CredentialParams,
  NewCredential,
  Product,
  ProductParams,
  PutVersionFunctionBody,
  UpdateProductBody,
  UpdatedProduct,
  Version,
  VersionFunctionParams,
  VersionParams,
} from './schema.ts';
import { createCredential, createProduct, getProduct, listProducts, revokeCredential, updateProduct } from './service.ts';
import { activateVersion, createVersion, putVersionFunction, removeVersionFunction } from './versions.ts';
import { PageQuery, pageOf } from '../http/pagination.ts';

const tags = ['products'];
// 400, 401 and 403 are documented for every route by the route machinery.
const errors = { 404: 'no such product (or another partner’s)' };

/** Partner routes for products, their credentials and versions. */
export function registerProductRoutes(api: ApiRoutes, deps: AppDeps): void {
  const call = (actor: PartnerActor) => ({ db: deps.db, config: deps.config, actor });

  api.add({
    method: 'post',
    path: '/v1/products',
    operationId: 'createProduct',
    auth: ['partner'],
    summary: 'Create a product (with a draft version 1)',
    tags,
    body: CreateProductBody,
    responses: {
      201: CreatedProduct,
      ...errors,
      409: 'you already have a product of that name',
      422: 'an availability installation does not exist',
    },
    handler: async ({ actor, body }) => {
      const product = await createProduct(call(actor), body);
      return created(`/v1/products/${product.id}`, product);
    },
  });

  api.add({
    method: 'get',
    path: '/v1/products',
    operationId: 'listProducts',
    auth: ['partner'],
    summary: 'List your products with their versions and state',
    tags,
    query: PageQuery,
    responses: { 200: pageOf(Product), ...errors },
    handler: async ({ query, principal }) => ({ status: 200, body: await listProducts(deps.db, principal.partnerId, query) }),
  });

  api.add({
    method: 'get',
    path: '/v1/products/:productId',
    operationId: 'getProduct',
    auth: ['partner'],
    summary: 'A product with its versions (and their functions), credentials and state',
    tags,
    params: ProductParams,
    responses: { 200: Product, ...errors },
    handler: async ({ params, principal }) => ({ status: 200, body: await getProduct(deps.db, principal.partnerId, params.productId) }),
  });

  api.add({
    method: 'patch',
    path: '/v1/products/:productId',
    operationId: 'updateProduct',
    auth: ['partner'],
    summary: 'Change any field but functions (no new version needed)',
    tags,
    params: ProductParams,
    body: UpdateProductBody,
    responses: { 200: UpdatedProduct, ...errors, 409: 'you already have a product of that name', 422: 'an availability installation does not exist' },
    handler: async ({ actor, params, body }) => ({ status: 200, body: await updateProduct(call(actor), params.productId, body) }),
  });

  api.add({
    method: 'post',
    path: '/v1/products/:productId/credentials',
    operationId: 'createProductCredential',
    auth: ['partner'],
    summary: 'Issue an access key (shown once); at most two active',
    tags,
    params: ProductParams,
    responses: { 201: NewCredential, ...errors, 409: 'two keys are active already: revoke one first' },
    handler: async ({ actor, params }) => {
      const credential = await createCredential(call(actor), params.productId);
      return created(`/v1/products/${params.productId}/credentials/${credential.keyId}`, credential);
    },
  });

  api.add({
    method: 'delete',
    path: '/v1/products/:productId/credentials/:keyId',
    operationId: 'revokeProductCredential',
    auth: ['partner'],
    summary: 'Revoke an access key',
    tags,
    params: CredentialParams,
    responses: { 204: 'revoked (or already revoked)', ...errors },
    handler: async ({ actor, params }) => {
      await revokeCredential(call(actor), params.productId, params.keyId);
      return { status: 204 };
    },
  });

  api.add({
    method: 'post',
    path: '/v1/products/:productId/versions',
    operationId: 'createProductVersion',
    auth: ['partner'],
    summary: 'Create a draft version copying the latest version’s functions',
    tags,
    params: ProductParams,
    responses: { 201: Version, ...errors },
    handler: async ({ actor, params }) => {
      const version = await createVersion(call(actor), params.productId);
      return created(`/v1/products/${params.productId}/versions/${version.number}`, version);
    },
  });

  api.add({
    method: 'put',
    path: '/v1/products/:productId/versions/:version/functions/:functionKey',
    operationId: 'putVersionFunction',
    auth: ['partner'],
    summary: 'Put a function (with filters) into a version',
    tags,
    params: VersionFunctionParams,
    body: PutVersionFunctionBody,
    responses: {
      200: Version,
      ...errors,
      409: '`new_version_required`: the version is activated in installations other than MSVPAR',
      422: 'no such function, or a filter field the function does not declare',
    },
    handler: async ({ actor, params, body }) => ({
      status: 200,
      body: await putVersionFunction(call(actor), params.productId, params.version, params.functionKey, body),
    }),
  });

  api.add({
    method: 'delete',
    path: '/v1/products/:productId/versions/:version/functions/:functionKey',
    operationId: 'removeVersionFunction',
    auth: ['partner'],
    summary: 'Remove a function from a version',
    tags,
    params: VersionFunctionParams,
    responses: { 204: 'removed', ...errors, 409: '`new_version_required`: the version is activated in installations other than MSVPAR' },
    handler: async ({ actor, params }) => {
      await removeVersionFunction(call(actor), params.productId, params.version, params.functionKey);
      return { status: 204 };
    },
  });

  api.add({
    method: 'post',
    path: '/v1/products/:productId/versions/:version/activate',
    operationId: 'activateProductVersion',
    auth: ['partner'],
    summary: 'Activate a version: the product becomes active; installations on older versions are told',
    tags,
    params: VersionParams,
    responses: { 200: Product, ...errors, 409: 'older than the active version', 422: 'the version grants no function' },
    handler: async ({ actor, params }) => ({
      status: 200,
      body: await activateVersion(call(actor), deps.queues, params.productId, params.version),
    }),
  });
}

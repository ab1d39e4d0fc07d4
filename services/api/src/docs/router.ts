import type { Express } from 'express';
import { OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { ApiRoutes } from '../http/route.ts';

/** The OpenAPI 3.1 document, generated from the schemas the routes validate with. */
export function buildOpenApiDocument(api: ApiRoutes): ReturnType<OpenApiGeneratorV31['generateDocument']> {
  return new OpenApiGeneratorV31(api.registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'hubhook API',
      version: '1',
      description: 'Partner portal backend and webhook delivery engine for the HUB API.',
    },
    servers: [{ url: '/' }],
  });
}

/** Serves the OpenAPI document (public: it describes routes, never data). */
export function registerDocsRoutes(app: Express, document: object): void {
  app.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
}

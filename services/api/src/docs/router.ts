import type { Express } from 'express';
import { OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { ApiRoutes } from '../http/route.ts';
import { renderDocsPage, type DocsDocument } from './page.ts';

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

/**
 * The paths served outside `api.add`, so absent from the OpenAPI document on purpose: the
 * document itself, its reference page, the browser dashboard (a mounted UI with its own
 * login form and internal JSON API, not part of the hubhook API), and the partner portal's
 * static files (a browser client of the documented routes). The route-coverage test
 * allows exactly these.
 */
export const UNDOCUMENTED_PATHS = {
  routes: ['GET /openapi.json', 'GET /docs'],
  mounts: ['/ops/board', '/portal'],
} as const;

/** Serves the OpenAPI document and the reference page rendered from it (public: they describe routes, never data). */
export function registerDocsRoutes(app: Express, document: object): void {
  // Rendered once: the document does not change while the process runs.
  const page = renderDocsPage(document as DocsDocument);
  app.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  app.get('/docs', (_req, res) => {
    // The page is self-contained: no script, inline style only; nothing else may load.
    res.set('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'");
    res.type('html').send(page);
  });
}

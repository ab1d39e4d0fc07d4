import { createRequire } from 'node:module';
import path from 'node:path';
import type { Express } from 'express';

/**
 * The paths served outside `api.add`, so absent from the OpenAPI document on purpose: the
 * document itself, its reference page and the page's files, the browser dashboard (a mounted
 * UI with its own login form and internal JSON API, not part of the hubhook API), and the
 * partner portal's static files (a browser client of the documented routes). The
 * route-coverage test allows exactly these.
 */
export const UNDOCUMENTED_PATHS = {
  routes: ['GET /openapi.json', 'GET /docs', 'GET /docs/swagger-ui.css', 'GET /docs/swagger-ui-bundle.js', 'GET /docs/favicon-32x32.png', 'GET /docs/init.js'],
  mounts: ['/ops/board', '/portal'],
} as const;

/** The Swagger UI files the page loads, from the swagger-ui-dist package: nothing comes from a CDN. */
const SWAGGER_UI_FILES = ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png'] as const;
const swaggerUiDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

const PAGE = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>hubhook API reference</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
`;

// Kept as a file of its own rather than inline, so the page's policy can forbid inline scripts.
// No validator badge (Swagger UI would send the document to validator.swagger.io) and no
// persisted authorization (tokens stay out of localStorage).
const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  persistAuthorization: false,
  displayRequestDuration: true,
  filter: true,
  docExpansion: 'list',
  displayOperationId: true,
  defaultModelsExpandDepth: 0,
});
`;

// Same-origin only: the page's own files, and "try it out" calling this api. Swagger UI sets
// inline styles and draws icons from data: URLs.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Serves the OpenAPI document and its reference page: Swagger UI (with "try it out") from
 * the swagger-ui-dist package, served from node_modules. Public: they describe routes, never data.
 */
export function registerDocsRoutes(app: Express, document: object): void {
  app.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  app.get('/docs', (_req, res) => {
    res.set('content-security-policy', CSP);
    res.type('html').send(PAGE);
  });
  app.get('/docs/init.js', (_req, res) => {
    res.type('js').send(INIT);
  });
  for (const file of SWAGGER_UI_FILES) {
    app.get(`/docs/${file}`, (_req, res, next) => {
      // The files change only with the package version; a day's caching spares reloads.
      res.sendFile(path.join(swaggerUiDir, file), { maxAge: '1d' }, (err) => err && next(err));
    });
  }
}

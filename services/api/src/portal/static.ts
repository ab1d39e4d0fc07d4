import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';

/**
 * Where `npm run build:portal` writes the portal: `dist/portal` under the package root. The
 * root is the nearest folder with a package.json, which holds from the sources (tsx) and from
 * the compiled `dist/` alike.
 */
export function portalDirectory(from = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, 'dist', 'portal');
}

// The portal is the built bundle only: its own script and stylesheet, and calls to this origin.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * Serves the partner portal's static files at /portal. Failure policy: when the bundle was not
 * built, /portal answers 503 saying how to build it, rather than a bare 404.
 */
export function mountPortal(app: Express, dir = portalDirectory()): void {
  const router = express.Router();
  router.use((_req, res, next) => {
    res.set('content-security-policy', CSP);
    res.set('x-content-type-options', 'nosniff');
    res.set('referrer-policy', 'no-referrer');
    next();
  });
  // Hashed asset names change with their content, so they may be cached; index.html may not.
  router.use(
    express.static(dir, {
      index: 'index.html',
      setHeaders: (res, file) => res.set('cache-control', file.endsWith('index.html') ? 'no-cache' : 'public, max-age=31536000, immutable'),
    }),
  );
  router.use((req, res) => {
    if (!existsSync(path.join(dir, 'index.html'))) {
      res.status(503).type('text').send('The portal is not built: run npm run build:portal (npm start and npm run build do it).');
      return;
    }
    res.status(404).json({ error: { code: 'route_not_found', message: `no route for ${req.method} /portal${req.path}`, details: [] } });
  });
  app.use('/portal', router);
}

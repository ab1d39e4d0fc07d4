import type { Express } from 'express';

/** A route express would answer: `GET /v1/ops/queues/:name/pause`; or a mounted sub-app. */
export interface ServedRoute {
  method: string;
  path: string;
}

interface Layer {
  rawPath?: string | string[];
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle: { stack?: Layer[]; name?: string } & ((...args: never[]) => unknown);
  name?: string;
}

const join = (prefix: string, path: string) => {
  const base = prefix === '/' ? '' : prefix;
  return path === '/' ? base || '/' : `${base}${path}`;
};

/**
 * Every route of an express 5 app, found by walking its router stack (`app.router.stack`),
 * nested routers included. A mounted express app (such as bull-board's) is listed once as
 * `{method: 'MOUNT', path}`: its insides are its own.
 */
export function servedRoutes(app: Express): ServedRoute[] {
  const out: ServedRoute[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      const paths = [layer.rawPath ?? '/'].flat();
      if (layer.route) {
        const routePaths = [layer.route.path].flat();
        for (const path of routePaths) {
          for (const [method, on] of Object.entries(layer.route.methods)) {
            if (on && method !== '_all') out.push({ method: method.toUpperCase(), path: join(prefix, path) });
          }
        }
      } else if (Array.isArray(layer.handle.stack)) {
        for (const path of paths) walk(layer.handle.stack, join(prefix, path));
      } else if (layer.handle.name === 'mounted_app') {
        for (const path of paths) out.push({ method: 'MOUNT', path: join(prefix, path) });
      }
    }
  };
  const router = (app as unknown as { router: { stack: Layer[] } }).router;
  walk(router.stack, '');
  return out;
}

/** The OpenAPI path of an express path: `/v1/x/:id` → `/v1/x/{id}`. */
export const toOpenApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/**
 * The portal's bundle: Preact through Vite's own JSX transform (no plugin), served by the api
 * at /portal from dist/portal. Everything is bundled: nothing is fetched from elsewhere.
 */
export default defineConfig({
  root: here('.'),
  base: '/portal/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: here('../../dist/portal'),
    emptyOutDir: true,
    // One small app: a single script and stylesheet load faster than a split.
    assetsInlineLimit: 0,
    reportCompressedSize: true,
    target: 'es2022',
  },
  logLevel: 'info',
});

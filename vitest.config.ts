import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    // The same `#shared/*` map as package.json "imports" (its "source" condition).
    alias: [
      { find: /^#shared\/(.*)$/, replacement: here('./shared/$1.ts') },
      { find: /^#api\/(.*)$/, replacement: here('./services/api/src/$1.ts') },
      { find: /^#worker\/(.*)$/, replacement: here('./services/worker/src/$1.ts') },
    ],
  },
  test: {
    include: ['shared/**/*.test.ts', 'services/**/*.test.ts', 'scripts/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['./test/global-setup.ts'],
    // Files run in parallel, each in its own Postgres schema and queue prefix.
    pool: 'forks',
    poolOptions: { forks: { minForks: 1, maxForks: 4 } },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});

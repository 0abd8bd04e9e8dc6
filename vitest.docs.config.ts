import { defineConfig } from 'vitest/config';

/**
 * The docs' code examples (test/docs.test.ts), run by `npm run test:docs` after the main suite
 * (`npm test` runs both). Apart, because running them spawns a process per example: beside the
 * timing-sensitive tests (test/stress.test.ts) that starves a 2-core machine.
 */
export default defineConfig({
  test: {
    include: ['test/docs.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 20_000,
    dangerouslyIgnoreUnhandledErrors: false,
  },
});

import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The docs' examples run apart, after this suite: see vitest.docs.config.ts.
    exclude: [...configDefaults.exclude, 'test/docs.test.ts'],
    // Integration tests open real sockets on 127.0.0.1 and use real time with
    // generous bounds; unit tests of timeouts use SimulatedClock instead.
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Fail on unhandled errors and rejections instead of hiding them.
    dangerouslyIgnoreUnhandledErrors: false,
  },
});

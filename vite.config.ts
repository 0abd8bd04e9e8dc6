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
    // expect.poll waits for real sockets and a real browser: 5 s, not vitest's 1 s, so a loaded
    // machine (CI) does not fail a condition that holds a moment later.
    expect: { poll: { timeout: 5_000 } },
    // Fail on unhandled errors and rejections instead of hiding them.
    dangerouslyIgnoreUnhandledErrors: false,
  },
});

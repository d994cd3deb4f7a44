import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The fake ARM's CA, trusted by the workers through NODE_EXTRA_CA_CERTS (read only at process start).
    globalSetup: ['test/fakes/arm/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Interop tests build Go programs; keep the suite on the machine's 2 cores without thrashing.
    pool: 'forks',
    maxWorkers: 2,
  },
});

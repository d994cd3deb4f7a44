import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Interop tests build Go programs; keep the suite on the machine's 2 cores without thrashing.
    pool: 'forks',
    maxWorkers: 2,
  },
});

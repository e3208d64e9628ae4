import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'kernel/**/*.test.ts',
      'hostcalls/**/*.test.ts',
      'toolchain/**/*.test.ts',
      'conformance/**/*.test.ts',
      'examples/**/*.test.ts',
    ],
    globalSetup: ['testing/global-setup.ts'],
    setupFiles: ['testing/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-report.json' },
    pool: 'forks',
    maxWorkers: 2,
  },
});

import { defineConfig } from 'vitest/config'

/**
 * Every project's output shows the tests: what the functions write to stdout and stderr goes to a
 * file (tests/helpers/function-output.ts), shown again for a test that fails.
 */
const functionOutput = ['tests/helpers/function-output.ts']

export default defineConfig({
  test: {
    // Console output only for the tests that fail (a root option: it belongs to the reporter).
    silent: 'passed-only',
    projects: [
      { test: { name: 'unit', include: ['tests/unit/**/*.test.ts'], setupFiles: functionOutput } },
      {
        test: {
          name: 'contract',
          setupFiles: functionOutput,
          include: ['tests/contract/**/*.test.ts'],
          // `serverless package` of dev and prod, once for every contract file.
          globalSetup: ['tests/contract/helpers/package-global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'integration',
          setupFiles: functionOutput,
          include: ['tests/integration/**/*.test.ts', 'tests/e2e/**/*.test.ts'],
          // The real broker and node are shared by every file: one file at a time keeps them honest.
          fileParallelism: false,
          // Starts the test profile's Kafka and OpenSearch once for the whole run, and packages the
          // service once: the tests load their functions in the packaged environment.
          globalSetup: ['local/services/vitest-global-setup.ts', 'tests/helpers/packaged-global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
})
